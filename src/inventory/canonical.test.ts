import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { sha256 } from '../util/sha256.ts';
import { instructionsPin, legacyToolPin, pinnedPart, toolPin } from './canonical.ts';
import { canonicalJson } from '../util/canonical-json.ts';

const PIN = /^sha256:[0-9a-f]{64}$/;

const base: JsonObject = {
  name: 'read_file',
  title: 'Read File',
  description: 'Read the complete contents of a file.',
  inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  outputSchema: { type: 'object', properties: { content: { type: 'string' } } },
  annotations: { readOnlyHint: true, openWorldHint: false },
};

interface SchemaDraft {
  type: string;
  description?: string;
  maxLength?: number;
}

/** `base` as a change edits it: the fields it has, and those a change adds or deletes. */
interface ToolDraft {
  name: string;
  title?: string;
  description: string;
  inputSchema: { type: string; properties: Record<string, SchemaDraft>; required: string[] };
  outputSchema?: { type: string; properties: Record<string, SchemaDraft> };
  annotations: Record<string, boolean>;
  execution?: JsonObject;
  _meta?: JsonObject;
  icons?: JsonObject[];
  x_vendor?: string;
}

/** A deep copy with one change applied: mutations never leak into `base`. */
function variant(change: (d: ToolDraft) => void): JsonObject {
  const d = structuredClone(base) as unknown as ToolDraft;
  change(d);
  return d as unknown as JsonObject;
}

test('a pin is sha256 over the canonical JSON of the pinned part', () => {
  assert.match(toolPin(base), PIN);
  assert.equal(toolPin(base), `sha256:${sha256(canonicalJson(pinnedPart(base)))}`);
  assert.equal(sha256(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('key order and number spelling do not change the pin', () => {
  const pairs: Array<[string, string]> = [
    ['{"name":"t","inputSchema":{"b":1,"a":1.0}}', '{"inputSchema":{"a":1,"b":1},"name":"t"}'],
    ['{"name":"t","inputSchema":{"maximum":1e2}}', '{"name":"t","inputSchema":{"maximum":100.000}}'],
    ['{"name":"t","inputSchema":{"minimum":-0}}', '{"name":"t","inputSchema":{"minimum":0}}'],
    ['{"name":"t","inputSchema":{"default":0.5E1}}', '{"name":"t","inputSchema":{"default":5}}'],
    [
      '{"name":"t","annotations":{"title":"x","readOnlyHint":true}}',
      '{"annotations":{"readOnlyHint":true,"title":"x"},"name":"t"}',
    ],
  ];
  for (const [a, b] of pairs) assert.equal(toolPin(JSON.parse(a)), toolPin(JSON.parse(b)), `${a} vs ${b}`);
  // Insertion order of a JS object does not matter either.
  assert.equal(toolPin({ description: 'd', name: 'n' }), toolPin({ name: 'n', description: 'd' }));
});

test('any change to a pinned field changes the pin', () => {
  const changes: Array<[string, (d: ToolDraft) => void]> = [
    ['name', (d) => (d.name = 'read_files')],
    ['title', (d) => (d.title = 'Read file')],
    ['title removed', (d) => delete d.title],
    ['description: one character', (d) => (d.description += ' ')],
    ['description: hidden character', (d) => (d.description = d.description.replace('file', 'fi\u200ble'))],
    ['inputSchema: property type', (d) => (d.inputSchema.properties.path.type = 'number')],
    ['inputSchema: new property', (d) => (d.inputSchema.properties.notes = { type: 'string' })],
    ['inputSchema: required order', (d) => (d.inputSchema.required = ['path', 'x'])],
    ['inputSchema: nested description', (d) => (d.inputSchema.properties.path.description = 'the path')],
    ['outputSchema', (d) => (d.outputSchema!.properties.content.type = 'number')],
    ['outputSchema removed', (d) => delete d.outputSchema],
    ['annotations: readOnlyHint', (d) => (d.annotations.readOnlyHint = false)],
    ['annotations: new hint', (d) => (d.annotations.destructiveHint = true)],
    ['execution', (d) => (d.execution = { taskSupport: 'optional' })],
    ['number 1 -> 1.5', (d) => (d.inputSchema.properties.path.maxLength = 1.5)],
  ];
  const pins = new Map<string, string>([[toolPin(base), 'base']]);
  for (const [what, change] of changes) {
    const pin = toolPin(variant(change));
    assert.notEqual(pin, toolPin(base), what);
    assert.ok(!pins.has(pin), `${what} collides with ${pins.get(pin)}`);
    pins.set(pin, what);
  }
});

test('fields outside the pinned set do not change the pin; `_meta` and `icons` do (hosts act on them)', () => {
  const extras: Array<[string, (d: ToolDraft) => void]> = [
    ['unknown top-level key', (d) => (d.x_vendor = 'anything')],
    ['undefined pinned field', (d) => (d.title = undefined)],
  ];
  const withoutTitle = variant((d) => delete d.title);
  for (const [what, change] of extras) {
    const expected = what === 'undefined pinned field' ? toolPin(withoutTitle) : toolPin(base);
    assert.equal(toolPin(variant(change)), expected, what);
  }
  for (const [what, change] of [
    ['_meta', (d: ToolDraft) => (d._meta = { 'io.example/x': 1 })],
    ['icons', (d: ToolDraft) => (d.icons = [{ src: 'https://example.com/i.png' }])],
  ] as const) {
    assert.notEqual(toolPin(variant(change)), toolPin(base), what);
    // The pin of before: the same, so an acceptance under it carries over (review.ts).
    assert.equal(legacyToolPin(variant(change)), legacyToolPin(base), what);
  }
});

test('pinnedPart keeps exactly the pinned fields the upstream sent', () => {
  assert.deepEqual(pinnedPart({ name: 'x', _meta: { a: 1 }, icons: [], x_vendor: 1 }), {
    name: 'x',
    _meta: { a: 1 },
    icons: [],
  });
  assert.deepEqual(pinnedPart({}), {});
  const part = pinnedPart(base);
  assert.equal(part.inputSchema, base.inputSchema, 'values are not copied or altered');
});

test('instructionsPin: absent equals empty; any other change differs', () => {
  assert.equal(instructionsPin(undefined), instructionsPin(''));
  assert.match(instructionsPin(undefined), PIN);
  const texts = ['', 'Use this server for files.', 'Use this server for files. ', 'use this server for files.', 'null'];
  assert.equal(new Set(texts.map(instructionsPin)).size, texts.length);
  assert.equal(instructionsPin('a'), `sha256:${sha256('"a"')}`, 'pins the JSON string, quotes included');
});

/** RFC 8785 appendix B: IEEE 754 bit patterns and their required serialisation. */
test('RFC 8785 number serialisation (appendix B samples)', () => {
  const samples: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  const view = new DataView(new ArrayBuffer(8));
  for (const [hex, expected] of samples) {
    view.setBigUint64(0, BigInt(`0x${hex}`));
    assert.equal(canonicalJson(view.getFloat64(0)), expected, hex);
  }
  // The short forms from the brief.
  assert.equal(canonicalJson([1e21, 1e-7, -0, 1e20, 1e-6]), '[1e+21,1e-7,0,100000000000000000000,0.000001]');
});

test('numbers that are not JSON are refused rather than pinned', () => {
  for (const n of [NaN, Infinity, -Infinity]) assert.throws(() => canonicalJson(n), String(n));
});

test('RFC 8785 §3.2.3 property sorting by UTF-16 code units', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  // Read the order off the text: JSON.parse would move the integer-like key "1" first again.
  const order = [...canonicalJson(input).matchAll(/:"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(order, [
    'Carriage Return',
    'One',
    'Control',
    'Latin Small Letter O With Diaeresis',
    'Euro Sign',
    'Emoji: Grinning Face',
    'Hebrew Letter Dalet With Dagesh',
  ]);
  assert.ok(canonicalJson(input).startsWith('{"\\r":"Carriage Return","1":"One","\u0080":'));
  // Numeric-looking keys sort as strings, not as numbers.
  assert.equal(canonicalJson({ 9: 'a', 10: 'b' }), '{"10":"b","9":"a"}');
});

test('RFC 8785 §3.2.4 sample: numbers, string escaping and literals', () => {
  const input = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`;
  const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,0.000001],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
  assert.equal(canonicalJson(JSON.parse(input)), expected);
});

test('canonicalJson of undefined is null', () => {
  assert.equal(canonicalJson(undefined), 'null');
  assert.equal(canonicalJson(null), 'null');
});
