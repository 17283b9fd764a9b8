import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../protocol/errors.ts';
import { MAX_PROBLEMS } from '../policy/arguments.ts';
import { argumentRefusal, toolErrorResult } from './argument-problems.ts';

const problems = [
  { path: 'title', message: 'must be string' },
  { path: 'repo', message: 'is required' },
];

test('a tools/call refused for its arguments is a tool result with isError, naming every problem with its path', () => {
  const err = argumentRefusal('rec__open_issue', problems);
  assert.equal(err.rpc, -32602);
  for (const era of ['legacy', 'modern']) {
    const r = toolErrorResult(err, 'tools/call', { name: 'rec__open_issue', arguments: {} }, era);
    assert.deepEqual(r, {
      content: [
        {
          type: 'text',
          text:
            'the arguments do not match the input schema of `rec__open_issue`; nothing was sent to the server. Correct these and call again:\n' +
            '- `title` must be string\n- `repo` is required',
        },
      ],
      isError: true,
    });
  }
});

test('a capped list says so', () => {
  const many = Array.from({ length: MAX_PROBLEMS }, (_, i) => ({ path: `a${i}`, message: 'is required' }));
  const err = argumentRefusal('t', many);
  assert.match(err.message, /input schema of `t` \(the first 50 problems\): `a0` is required; /);
  const r = toolErrorResult(err, 'tools/call', { name: 't' }, 'modern');
  const text = (r?.content as Array<{ text: string }> | undefined)?.[0]?.text ?? '';
  assert.match(text, /\(the first 50 problems\); nothing was sent/);
  assert.equal(text.split('\n').length, MAX_PROBLEMS + 1);
});

test('a task-augmented legacy call, another method or another refusal stays an error', () => {
  const err = argumentRefusal('t', problems);
  assert.equal(toolErrorResult(err, 'tools/call', { name: 't', task: { ttl: 1000 } }, 'legacy'), undefined);
  assert.ok(toolErrorResult(err, 'tools/call', { name: 't', task: { ttl: 1000 } }, 'modern'));
  assert.equal(toolErrorResult(err, 'prompts/get', { name: 't' }, 'legacy'), undefined);
  for (const other of [
    new GatehouseError('E_INVALID_PARAMS', 'invalid params: `arguments` must be an object'),
    new GatehouseError('E_UNKNOWN_TOOL'),
    new Error('x'),
  ])
    assert.equal(toolErrorResult(other, 'tools/call', { name: 't' }, 'legacy'), undefined);
});
