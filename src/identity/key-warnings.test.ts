import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IssuerKeyWarnings } from './key-warnings.ts';

test('an issuer whose keys cannot be fetched is warned about once a minute, with what the pause left unsaid', () => {
  const lines: Array<Record<string, unknown>> = [];
  const w = new IssuerKeyWarnings((fields) => lines.push(fields), 60_000);
  w.note('https://idp.example.com', 'ENOTFOUND', 0);
  w.note('https://idp.example.com', 'ENOTFOUND', 1_000);
  w.note('https://idp.example.com', 'ENOTFOUND', 2_000);
  w.note('https://other.example', 'HTTP 500', 2_000);
  w.note('https://idp.example.com', 'timed out', 61_000);
  assert.deepEqual(lines, [
    { issuer: 'https://idp.example.com', reason: 'ENOTFOUND' },
    { issuer: 'https://other.example', reason: 'HTTP 500' },
    { issuer: 'https://idp.example.com', reason: 'timed out', failuresSinceLastWarning: 2 },
  ]);
});
