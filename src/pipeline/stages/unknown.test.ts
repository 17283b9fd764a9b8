import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unknownTarget } from './unknown.ts';

test('one "no such thing" answer per kind, naming what was asked for', () => {
  const tool = unknownTarget({ kind: 'tool', requested: 'mt__x' });
  assert.deepEqual([tool.code, tool.message, tool.data], ['E_UNKNOWN_TOOL', 'unknown tool `mt__x`', undefined]);
  const prompt = unknownTarget({ kind: 'prompt', requested: 'mt__p' });
  assert.deepEqual([prompt.code, prompt.message], ['E_UNKNOWN_PROMPT', 'unknown prompt `mt__p`']);
  const resource = unknownTarget({ kind: 'resource', requested: 'gatehouse:mt/secret://token' });
  assert.deepEqual(
    [resource.code, resource.message],
    ['E_UNKNOWN_RESOURCE', 'unknown resource `gatehouse:mt/secret://token`'],
  );
  assert.equal(tool.rpc, -32602);
});

test('what the caller sent is quoted bounded and marked: hidden characters and look-alikes show their code points', () => {
  const e = unknownTarget({ kind: 'tool', requested: `mt__${'a'.repeat(200)}\u202e` });
  assert.ok(e.message.length < 120, e.message);
  const hidden = unknownTarget({ kind: 'tool', requested: 'mt__x\u200bz' });
  assert.equal(hidden.message, 'unknown tool `mt__x⟨U+200B⟩z`');
  const cyrillic = unknownTarget({ kind: 'tool', requested: 'gh__d\u0435lete_repo' });
  assert.equal(cyrillic.message, 'unknown tool `gh__d\u0435⟨U+0435⟩lete_repo`');
});

test('on the tasks row the target is a handle: no such thing is an unknown task, whatever the kind', () => {
  for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel']) {
    const e = unknownTarget({ kind: 'tool', requested: `gh1.${'x'.repeat(200)}`, method });
    assert.equal(e.code, 'E_UNKNOWN_TASK', method);
    assert.match(e.message, /^unknown task `gh1\.x+`$/);
    assert.ok(e.message.length < 100);
  }
  assert.equal(unknownTarget({ kind: 'tool', requested: 'mt__x', method: 'tools/call' }).code, 'E_UNKNOWN_TOOL');
});
