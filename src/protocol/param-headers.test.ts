import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedParamHeaders, paramHeaderProblem, paramHeaders } from './param-headers.ts';

const schema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    n: { type: 'integer', 'x-mcp-header': 'Count' },
    nested: { type: 'object', properties: { flag: { type: 'boolean', 'x-mcp-header': 'Flag' } } },
    bad1: { type: 'number', 'x-mcp-header': 'Num' },
    bad2: { type: 'string', 'x-mcp-header': 'has space' },
    dup: { type: 'string', 'x-mcp-header': 'REGION' },
    list: { type: 'array', items: { type: 'object', properties: { x: { type: 'string', 'x-mcp-header': 'X' } } } },
  },
};
const decode = (v: string) => v;

test('only valid annotations reachable through properties count', () => {
  assert.deepEqual(
    paramHeaders(schema).map((p) => [p.name, p.path.join('.')]),
    [
      ['Region', 'region'],
      ['Count', 'n'],
      ['Flag', 'nested.flag'],
    ],
  );
});

test('expected values: strings as is, integers in decimal, booleans lowercase; absent and null omitted', () => {
  const e = expectedParamHeaders(schema, { region: 'eu', n: 42, nested: { flag: false } });
  assert.deepEqual(
    [...e.entries()].map(([k, v]) => [k, v.text]),
    [
      ['mcp-param-region', 'eu'],
      ['mcp-param-count', '42'],
      ['mcp-param-flag', 'false'],
    ],
  );
  assert.equal(expectedParamHeaders(schema, { region: null }).size, 0);
});

test('problems: missing, different, present without an argument; numeric comparison for integers', () => {
  assert.equal(paramHeaderProblem(schema, { region: 'eu' }, { 'mcp-param-region': 'eu' }, decode), undefined);
  assert.match(paramHeaderProblem(schema, { region: 'eu' }, {}, decode)!, /Region` is missing/);
  assert.match(paramHeaderProblem(schema, { region: 'eu' }, { 'mcp-param-region': 'us' }, decode)!, /does not match/);
  assert.match(paramHeaderProblem(schema, {}, { 'mcp-param-region': 'us' }, decode)!, /argument is absent/);
  assert.equal(paramHeaderProblem(schema, { n: 42 }, { 'mcp-param-count': '42.0' }, decode), undefined);
  assert.match(paramHeaderProblem(schema, { n: 42 }, { 'mcp-param-count': '' }, decode)!, /does not match/);
});

test('raw header values must be visible ASCII, and base64 sentinels valid', () => {
  assert.match(
    paramHeaderProblem(schema, { region: 'zürich' }, { 'mcp-param-region': 'z\u00fcrich' }, decode)!,
    /characters a header may not carry/,
  );
  assert.match(
    paramHeaderProblem(schema, { region: 'x' }, { 'mcp-param-region': '=?base64?!!!?=' }, decode)!,
    /not valid base64/,
  );
  assert.match(
    paramHeaderProblem(schema, { region: 'x' }, { 'mcp-param-region': '=?base64?eA?=' }, decode)!,
    /not valid base64/,
    'missing padding',
  );
  // Without the closing `?=` it is not the sentinel form: a literal value compared as is.
  assert.equal(
    paramHeaderProblem(schema, { region: '=?base64?eA==' }, { 'mcp-param-region': '=?base64?eA==' }, decode),
    undefined,
  );
});
