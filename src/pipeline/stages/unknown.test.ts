import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unknownTarget } from './unknown.ts';

test('one "no such thing" answer per kind, naming what was asked for', () => {
  const tool = unknownTarget({ kind: 'tool', requested: 'mt__x' });
  assert.deepEqual([tool.code, tool.message, tool.data], ['E_UNKNOWN_TOOL', 'unknown tool `mt__x`', undefined]);
  const prompt = unknownTarget({ kind: 'prompt', requested: 'mt__p' });
  assert.deepEqual([prompt.code, prompt.message], ['E_UNKNOWN_PROMPT', 'unknown prompt `mt__p`']);
  const resource = unknownTarget({ kind: 'resource', requested: 'gatehouse:mt/secret://token' });
  assert.deepEqual([resource.code, resource.message], ['E_UNKNOWN_RESOURCE', 'unknown resource `gatehouse:mt/secret://token`']);
  assert.equal(tool.rpc, -32602);
});

test('what the caller sent is quoted bounded and with controls escaped', () => {
  const e = unknownTarget({ kind: 'tool', requested: `mt__${'a'.repeat(200)}\u202e` });
  assert.ok(e.message.length < 120, e.message);
  const hidden = unknownTarget({ kind: 'tool', requested: 'mt__x\u200bz' });
  assert.equal(hidden.message, 'unknown tool `mt__x\\u200bz`');
});
