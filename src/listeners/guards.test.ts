import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptsJsonAndSse,
  allowedHostSet,
  allowedOriginSet,
  checkHost,
  checkOrigin,
  decodeHeaderValue,
} from './guards.ts';

const cfg = {
  port: 8765,
  allowedOrigins: ['https://console.example'],
  allowedHosts: [],
  publicUrl: 'https://mcp.example.com',
};

test('hosts: loopback names on our port, the public url, nothing else', () => {
  const hosts = allowedHostSet(cfg);
  for (const h of ['127.0.0.1:8765', 'localhost:8765', '[::1]:8765', 'mcp.example.com', 'LOCALHOST:8765'])
    assert.doesNotThrow(() => checkHost(h, hosts), h);
  for (const h of ['evil.example:8765', '127.0.0.1:9999', undefined, 'mcp.example.com.evil.io'])
    assert.throws(() => checkHost(h, hosts), /host not allowed/, String(h));
});

test('origins: absent is fine, null and foreign are refused', () => {
  const origins = allowedOriginSet(cfg);
  assert.doesNotThrow(() => checkOrigin(undefined, origins));
  assert.doesNotThrow(() => checkOrigin('http://localhost:8765', origins));
  assert.doesNotThrow(() => checkOrigin('https://console.example', origins));
  assert.throws(() => checkOrigin('null', origins), /origin not allowed/);
  assert.throws(() => checkOrigin('http://evil.example', origins), /origin not allowed/);
  assert.throws(() => checkOrigin('http://localhost:8765.evil.example', origins), /origin not allowed/);
});

test('base64 sentinel header values', () => {
  assert.equal(decodeHeaderValue('=?base64?SGVsbG8sIOS4lueVjA==?='), 'Hello, 世界');
  assert.equal(decodeHeaderValue('plain'), 'plain');
  // Read strictly: what a proxy in front would read differently names nothing.
  for (const lenient of [
    '=?base64?bXRfX3dob2FtaQ?=', // padding missing
    '=?base64?bX!Rf X3d*ob2FtaQ==?=', // junk characters
    '=?base64?bXRfX3dob2FtaQ==AAAA?=', // bytes after the padding
    '=?base64?/w==?=', // not UTF-8
  ])
    assert.equal(decodeHeaderValue(lenient), undefined, lenient);
  assert.equal(decodeHeaderValue('=?base64?bXRfX3dob2FtaQ==?='), 'mt__whoami');
});

test('accept header', () => {
  assert.deepEqual(acceptsJsonAndSse('application/json, text/event-stream'), { ok: true, sse: true });
  assert.deepEqual(acceptsJsonAndSse('application/json'), { ok: true, sse: false });
  assert.equal(acceptsJsonAndSse('text/html').ok, false);
  assert.deepEqual(acceptsJsonAndSse('text/event-stream'), { ok: true, sse: 'only' });
  assert.deepEqual(acceptsJsonAndSse('application/json;q=0, text/event-stream'), { ok: true, sse: 'only' });
});
