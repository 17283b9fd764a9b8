import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from './load.ts';
import { pagesBaseUrl } from './pages-url.ts';

const config = (gateway: string, approvals = '') =>
  parseConfig(`version: 1\ngateway: { ${gateway} }\n${approvals}servers: []\n`, '/srv/g.yaml', {});

test('the pages are at approvals.baseUrl, else publicUrl, else where the gateway listens, else its configured address', () => {
  const listen = 'listen: { host: 127.0.0.1, port: 8765 }';
  assert.equal(pagesBaseUrl(config(listen, 'approvals: { baseUrl: "https://ok.example/" }\n')), 'https://ok.example');
  assert.equal(pagesBaseUrl(config(`${listen}, publicUrl: "https://gw.example"`)), 'https://gw.example');
  assert.equal(pagesBaseUrl(config(listen), 'http://127.0.0.1:40001'), 'http://127.0.0.1:40001');
  assert.equal(pagesBaseUrl(config(listen)), 'http://127.0.0.1:8765', 'listening on none (gatehouse stdio)');
});
