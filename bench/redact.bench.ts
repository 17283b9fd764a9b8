// Redaction throughput on a ~1 MB mixed document (prose, JSON-ish tool results, base64 blobs,
// URLs, a few tokens and injected-credential canaries). Informational only: no test depends on it.
// Run: node bench/redact.bench.ts
import { Redactor } from '../src/audit/redact.ts';

const secrets = ['canary-credential-0001', 'upstream-api-key-f00dbabe', 'p@ssw0rd-for-db-42'];
const redactor = new Redactor({ secrets, paths: ['$..ssn', '$.items[*].card'] }).withSecrets(['per-call-token-abcdef']);

function buildDocument(targetBytes: number): { items: unknown[] } {
  const items: unknown[] = [];
  let size = 0;
  for (let i = 0; size < targetBytes; i++) {
    const item = {
      id: i,
      text: `Result ${i}: the quick brown fox jumps over the lazy dog; see https://example.com/a/b?page=${i}&q=fox. `.repeat(
        3,
      ),
      blob: Buffer.from(
        `binary-ish payload ${i} ${i % 7 === 0 ? secrets[i % 3] : 'nothing to see'} `.repeat(8),
      ).toString('base64'),
      log:
        i % 11 === 0
          ? `Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIke2l9In0.c2lnbmF0dXJl${i}`
          : `GET /items/${i} 200 12ms`,
      conn: i % 13 === 0 ? `postgres://app:hunter${i}@db:5432/x` : 'postgres://db:5432/x',
      card: '4111 1111 1111 1111',
      nested: { ssn: '123-45-6789', note: i % 17 === 0 ? `token=${'z'.repeat(30)} AKIAIOSFODNN7EXAMPLE` : 'ok' },
    };
    items.push(item);
    size += JSON.stringify(item).length;
  }
  return { items };
}

const doc = buildDocument(1 << 20);
const mb = JSON.stringify(doc).length / (1 << 20);
const text = JSON.stringify(doc);

function measure(label: string, fn: () => void) {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  const runs = 10;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) fn();
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `${label}: ${((mb * runs) / seconds).toFixed(1)} MB/s (${((seconds / runs) * 1000).toFixed(1)} ms per ${mb.toFixed(2)} MB)`,
  );
}

let count = 0;
measure('redact(object)', () => {
  count = redactor.redact(doc).count;
});
measure('redactString(json text)', () => {
  redactor.redactString(text);
});
console.log(`replacements per document: ${count}`);
