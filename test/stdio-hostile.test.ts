/**
 * The stdio listener with hostile bytes: a line that is not UTF-8 is a parse error (never decoded
 * with U+FFFD and executed), a multi-byte character split across reads still arrives whole, and a
 * line over `gateway.maxBodyBytes` is refused whole, to its newline (its tail is never a request).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { stdioClient } from './support/stdio.ts';

let t: TestGateway;
interface Reply {
  id?: string | number;
  result?: { protocolVersion?: string };
  error?: { code: number; message: string };
}
const client = stdioClient<Reply>();
const { input, lines } = client;

before(async () => {
  t = await startGateway('');
  client.serve(() => t.gw.endpoint);
});
after(async () => {
  await client.close();
  await t?.close();
});

async function next(): Promise<Reply> {
  const seen = lines.length;
  await eventually(() => {
    assert.ok(lines.length > seen, 'an answer arrived');
    return true;
  });
  return lines[lines.length - 1];
}

test('a line that is not utf-8 is a parse error', async () => {
  const p = next();
  input.write(
    Buffer.concat([
      Buffer.from(
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"',
      ),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","version":"1"}}}\n'),
    ]),
  );
  const r = await p;
  assert.equal(r.error?.code, -32700);
  assert.match(r.error!.message, /not valid utf-8/);
});

test('a character split across reads arrives whole', async () => {
  const line = Buffer.from(
    '{"jsonrpc":"2.0","id":"é-2","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"ç","version":"1"}}}\n',
  );
  const cut = line.indexOf(Buffer.from('é')) + 1; // between the two bytes of é
  const p = next();
  // The gateway reads the first half on its own before the second is written.
  const firstRead = once(input, 'data');
  input.write(line.subarray(0, cut));
  await firstRead;
  input.write(line.subarray(cut));
  const r = await p;
  assert.equal(r.id, 'é-2');
  assert.ok(r.result?.protocolVersion, JSON.stringify(r));
});

const MAX = 4 * 1024 * 1024; // gateway.maxBodyBytes by default

/** The answers written from `from` on, once `done` says enough. */
async function answersUntil(from: number, done: (r: Reply) => boolean): Promise<Reply[]> {
  await eventually(() => {
    assert.ok(lines.slice(from).some(done), 'the awaited answer arrived');
    return true;
  });
  return lines.slice(from);
}

test('a line over the limit is refused to its newline: what follows the cut is not a request of its own', async () => {
  // The padding ends without a newline; the gateway reads and refuses it before the rest arrives.
  const big = `{"jsonrpc":"2.0","id":"big","method":"ping","pad":"${'A'.repeat(MAX + 10)}`;
  const refused = next();
  input.write(big);
  const r = await refused;
  assert.equal(r.error?.message, 'request body too large');
  const from = lines.length;
  input.write('{"jsonrpc":"2.0","id":"smuggled","method":"ping"}\n');
  input.write('{"jsonrpc":"2.0","id":"after","method":"ping"}\n');
  const seen = await answersUntil(from, (a) => a.id === 'after');
  assert.deepEqual(
    seen.map((a) => a.id),
    ['after'],
    'the rest of the refused line was dropped; the next line is served',
  );
});

test('a line over the limit that arrives with its newline in one read is refused too', async () => {
  const big = `{"jsonrpc":"2.0","id":"whole","method":"ping","params":{"pad":"${'A'.repeat(MAX)}"}}\n`;
  const from = lines.length;
  input.write(big);
  input.write('{"jsonrpc":"2.0","id":"after-whole","method":"ping"}\n');
  const seen = await answersUntil(from, (a) => a.id === 'after-whole');
  assert.equal(seen.length, 2, JSON.stringify(seen.map((a) => a.id)));
  assert.equal(seen[0].error?.message, 'request body too large');
  assert.equal(seen[1].id, 'after-whole');
});

test('a request whose id cannot be read (1.5, 1e3) or that is no request is -32600 with id null, as over HTTP; a malformed answer is not answered', async () => {
  const from = lines.length;
  input.write('{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n');
  input.write('{"jsonrpc":"2.0","id":1e3,"method":"ping"}\n');
  input.write('{"jsonrpc":"1.0","method":"ping"}\n');
  // An answer of the client's without an id: answering it could make two peers answer each other.
  input.write('{"jsonrpc":"2.0","result":{}}\n');
  input.write('{"jsonrpc":"2.0","id":"after-ids","method":"ping"}\n');
  const seen = (await answersUntil(from, (a) => a.id === 'after-ids')) as Array<Reply & { id?: unknown }>;
  assert.deepEqual(
    seen.map((a) => [a.id, a.error?.code ?? 'ok']),
    [
      [null, -32600],
      [null, -32600],
      [null, -32600],
      ['after-ids', 'ok'],
    ],
  );
  assert.match(seen[0].error?.message ?? '', /^invalid request: .*id/);
});
