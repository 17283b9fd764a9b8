import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '../../model/audit-event.ts';
import { cef, cefValue, elasticBulk, jsonl, level, otlpLogs, rfc5424, sdValue, splunkHec } from './formats.ts';

const sample: AuditEvent = {
  v: 1,
  id: 'r1',
  time: '2026-03-01T12:00:00.123Z',
  stream: 'gw-1',
  seq: 42,
  prev: 'p',
  hash: 'h',
  kind: 'call.refused',
  actor: { subject: 'alice', tenant: 't1', via: 'jwt', issuer: 'https://idp' },
  server: 'fs',
  tool: 'fs.write',
  outcome: 'refused',
  error: 'E_POLICY',
  stage: 'policy',
  decision: { effect: 'deny', rule: 'no-writes', reasons: ['writes disabled'] },
};
const JSON_SAMPLE =
  '{"v":1,"id":"r1","time":"2026-03-01T12:00:00.123Z","stream":"gw-1","seq":42,"prev":"p","hash":"h","kind":"call.refused",' +
  '"actor":{"subject":"alice","tenant":"t1","via":"jwt","issuer":"https://idp"},"server":"fs","tool":"fs.write","outcome":"refused",' +
  '"error":"E_POLICY","stage":"policy","decision":{"effect":"deny","rule":"no-writes","reasons":["writes disabled"]}}';

// Every nasty thing a tool name, a subject or an error text could carry.
const HOSTILE = 'a\nb\r\nc]d"e\\f|g=h\u0000i\u001bj\u0085k\u2028l\u2029m\té🙂 ';
const hostile: AuditEvent = {
  ...sample,
  stream: HOSTILE,
  tool: HOSTILE,
  actor: { ...sample.actor!, subject: HOSTILE },
  error: HOSTILE,
  decision: { effect: HOSTILE, rule: 'r', reasons: [HOSTILE] },
};
/** What the lossy formats keep of HOSTILE: control characters (not CR/LF in CEF) become U+FFFD. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the lossy formats must not carry
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

test('jsonl: the record as is, one line, newline-terminated', () => {
  assert.equal(jsonl(sample), `${JSON_SAMPLE}\n`);
  const line = jsonl(hostile);
  assert.equal(line.indexOf('\n'), line.length - 1);
  assert.ok(!CONTROLS.test(line.slice(0, -1)), 'no raw control character or U+2028/9');
  assert.deepEqual(JSON.parse(line), hostile);
});

test('splunkHec: time in epoch seconds with ms, metadata, event, indexed fields', () => {
  assert.equal(
    splunkHec(sample, { index: 'audit', host: 'gw-host', sourcetype: 'gh:audit', source: 'gatehouse' }),
    `{"time":1772366400.123,"host":"gw-host","source":"gatehouse","sourcetype":"gh:audit","index":"audit","event":${JSON_SAMPLE},"fields":{"stream":"gw-1","seq":"42"}}`,
  );
  const defaults = JSON.parse(splunkHec(sample));
  assert.equal(defaults.sourcetype, 'gatehouse:audit');
  assert.ok(!('index' in defaults) && !('host' in defaults), 'absent options are omitted (HEC defaults apply)');
  assert.ok(!splunkHec(hostile).includes('\n'));
});

test('elasticBulk: action lines with _id = stream:seq, NDJSON ending in a newline', () => {
  const second = { ...sample, seq: 43, id: 'r2' };
  assert.equal(
    elasticBulk([sample, second], 'gatehouse-audit'),
    `{"index":{"_index":"gatehouse-audit","_id":"gw-1:42"}}\n${JSON_SAMPLE}\n{"index":{"_index":"gatehouse-audit","_id":"gw-1:43"}}\n${JSON.stringify(second)}\n`,
  );
  assert.ok(elasticBulk([sample], 'ds', 'create').startsWith('{"create":{"_index":"ds","_id":"gw-1:42"}}\n'));
  assert.equal(elasticBulk([hostile], 'i').split('\n').length, 3, 'two lines and the final newline');
});

test('rfc5424: exact line for a sample record', () => {
  assert.equal(
    rfc5424(sample, { appName: 'gatehouse', hostname: 'host1', facility: 13 }),
    '<108>1 2026-03-01T12:00:00.123Z host1 gatehouse - call.refused [gatehouse@32473 stream="gw-1" seq="42" id="r1" kind="call.refused" ' +
      'outcome="refused" tool="fs.write" server="fs" subject="alice" tenant="t1" error="E_POLICY" stage="policy" effect="deny"] ' +
      JSON_SAMPLE,
  );
});

test('rfc5424: PRI from facility and severity; severity from the record', () => {
  const opts = { appName: 'a', hostname: 'h', facility: 16 };
  assert.ok(rfc5424({ ...sample, kind: 'call.outcome', outcome: 'ok' }, opts).startsWith('<134>1 ')); // local0.info
  assert.ok(rfc5424({ ...sample, kind: 'call.outcome', outcome: 'error' }, opts).startsWith('<132>1 ')); // warning
  assert.ok(rfc5424({ ...sample, kind: 'call.unknown', outcome: 'unknown' }, opts).startsWith('<131>1 ')); // error
  assert.equal(level({ ...sample, kind: 'inventory.event', outcome: undefined }), 'info');
  assert.throws(() => rfc5424(sample, { ...opts, facility: 24 }), RangeError);
});

/** A strict RFC 5424 parser for what our lines use: header, one SD element, MSG. */
function parse5424(line: string) {
  const m =
    /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[(\S+)((?: [^= \]"]+="(?:[^"\\\]]|\\["\\\]])*")*)\] (.*)$/s.exec(
      line,
    );
  assert.ok(m, `not RFC 5424: ${line}`);
  const params: Record<string, string> = {};
  for (const p of m[8].matchAll(/ ([^= \]"]+)="((?:[^"\\\]]|\\["\\\]])*)"/g))
    params[p[1]] = p[2].replace(/\\(["\\\]])/g, '$1');
  return {
    pri: Number(m[1]),
    time: m[2],
    host: m[3],
    app: m[4],
    procid: m[5],
    msgid: m[6],
    sdId: m[7],
    params,
    msg: m[9],
  };
}

test('rfc5424: hostile values are escaped (§6.3.3) and never break the line; MSG keeps the exact record', () => {
  const line = rfc5424(hostile, {
    appName: 'gate house\nx'.repeat(10),
    hostname: 'hôst name',
    facility: 13,
    procId: 'p]1',
  });
  assert.ok(!CONTROLS.test(line), 'no control character anywhere in the line');
  const p = parse5424(line);
  assert.equal(p.host, 'h_st_name', 'header fields: printable ASCII only');
  assert.equal(p.app.length, 48, 'APP-NAME at most 48');
  assert.equal(p.procid, 'p]1');
  assert.equal(p.sdId, 'gatehouse@32473');
  const kept = HOSTILE.replace(new RegExp(CONTROLS.source, 'g'), '\ufffd');
  assert.equal(p.params.tool, kept);
  assert.equal(p.params.subject, kept);
  assert.match(sdValue('a"b\\c]d'), /^a\\"b\\\\c\\]d$/);
  assert.ok(/^[\x20-\x7e]*$/.test(p.msg), 'MSG is pure ASCII (no BOM needed)');
  assert.deepEqual(JSON.parse(p.msg), hostile);
});

test('rfc5424: long header fields are cut to their RFC maximum, empty ones are NILVALUE', () => {
  const p = parse5424(
    rfc5424({ ...sample, time: 'not a time' }, { appName: '', hostname: 'h'.repeat(300), facility: 1 }),
  );
  assert.equal(p.host.length, 255);
  assert.equal(p.app, '-');
  assert.equal(p.time, '-');
});

test('cef: exact line for a sample record', () => {
  assert.equal(
    cef(sample),
    'CEF:0|Gatehouse|Gatehouse|0.1.0|call.refused|call.refused fs.write refused|6|rt=1772366400123 externalId=r1 suser=alice act=deny ' +
      'outcome=refused reason=E_POLICY msg=writes disabled cs1Label=tool cs1=fs.write cs2Label=stream cs2=gw-1 cn1Label=seq cn1=42 ' +
      'cs3Label=server cs3=fs cs4Label=tenant cs4=t1 cs6Label=stage cs6=policy',
  );
  assert.ok(cef({ ...sample, kind: 'call.outcome', outcome: 'ok' }).includes('|3|'));
  assert.ok(cef({ ...sample, kind: 'call.unknown', outcome: 'unknown' }).includes('|8|'));
});

/** What an escaped character in a CEF extension value stands for (any other stands for itself). */
const CEF_UNESCAPE: Record<string, string> = { n: '\n', r: '\r' };

/** Splits a CEF line: 7 header fields (pipes unescaped), then extension key=value pairs (unescaped). */
function parseCef(line: string) {
  const fields: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < line.length && fields.length < 7; i++) {
    if (line[i] === '\\') cur += line[++i];
    else if (line[i] === '|') {
      fields.push(cur);
      cur = '';
    } else cur += line[i];
  }
  const ext: Record<string, string> = {};
  const rest = line.slice(i);
  const keys = [...rest.matchAll(/(?:^| )([A-Za-z0-9]+)=/g)].filter((m) => {
    let back = 0; // an '=' preceded by an odd number of backslashes is escaped, not a key
    for (let j = m.index + m[0].length - 2; j >= 0 && rest[j] === '\\'; j--) back++;
    return back % 2 === 0;
  });
  keys.forEach((k, n) => {
    const end = n + 1 < keys.length ? keys[n + 1].index : rest.length;
    ext[k[1]] = rest.slice(k.index + k[0].length, end).replace(/\\(.)/g, (_, c: string) => CEF_UNESCAPE[c] ?? c);
  });
  return { fields, ext };
}

test('cef: hostile values escaped per the spec (header | and \\, extension \\ = and newlines)', () => {
  const line = cef({ ...hostile, kind: 'call.refused' });
  assert.ok(!CONTROLS.test(line), 'no raw control character');
  const { fields, ext } = parseCef(line);
  assert.equal(fields.length, 7);
  const expectedName = ['call.refused', HOSTILE, 'refused']
    .join(' ')
    .replace(new RegExp(CONTROLS.source, 'g'), '\ufffd');
  assert.equal(fields[5], expectedName);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters other than CR/LF are what CEF replaces
  const kept = HOSTILE.replace(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd');
  assert.equal(ext.cs1, kept, 'tool round-trips (CR/LF kept as \\r \\n)');
  assert.equal(ext.suser, kept);
  assert.equal(ext.cs2, kept);
  assert.equal(cefValue('a=b\\c\nd'), 'a\\=b\\\\c\\nd');
});

/** The parts of an OTLP/JSON ExportLogsServiceRequest the test reads. */
interface OtlpRequest {
  resourceLogs: Array<{
    resource: { attributes: OtlpKeyValue[] };
    scopeLogs: Array<{
      logRecords: Array<{
        timeUnixNano: string;
        severityNumber: number;
        severityText: string;
        traceId?: string;
        body: { stringValue: string };
        attributes: OtlpKeyValue[];
      }>;
    }>;
  }>;
}
interface OtlpKeyValue {
  key: string;
  value: Record<string, unknown>;
}

test('otlpLogs: ExportLogsServiceRequest in the OTLP/JSON encoding', () => {
  const traced = { ...sample, traceId: '4BF92F3577B34DA6A3CE929D0E0E4736' };
  const req = otlpLogs([traced], { serviceName: 'gatehouse', serviceInstanceId: 'gw-1' }) as OtlpRequest;
  const rl = req.resourceLogs[0];
  assert.deepEqual(rl.resource.attributes, [
    { key: 'service.name', value: { stringValue: 'gatehouse' } },
    { key: 'service.instance.id', value: { stringValue: 'gw-1' } },
  ]);
  const r = rl.scopeLogs[0].logRecords[0];
  assert.equal(r.timeUnixNano, '1772366400123000000');
  assert.equal(r.severityNumber, 13);
  assert.equal(r.severityText, 'WARN');
  assert.equal(r.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.deepEqual(JSON.parse(r.body.stringValue), traced);
  const attr = Object.fromEntries(r.attributes.map((a) => [a.key, a.value]));
  assert.deepEqual(attr['gatehouse.audit.seq'], { intValue: '42' });
  assert.deepEqual(attr['gatehouse.audit.stream'], { stringValue: 'gw-1' });
  assert.deepEqual(attr['gatehouse.audit.tool'], { stringValue: 'fs.write' });
  assert.deepEqual(attr['gatehouse.audit.outcome'], { stringValue: 'refused' });
  assert.deepEqual(attr['gatehouse.audit.kind'], { stringValue: 'call.refused' });
  const plain = otlpLogs([{ ...sample, kind: 'call.outcome', outcome: 'ok' }], {
    serviceName: 's',
    serviceInstanceId: 'i',
  }) as OtlpRequest;
  assert.equal(plain.resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber, 9);
  assert.ok(!('traceId' in plain.resourceLogs[0].scopeLogs[0].logRecords[0]));
});
