/**
 * The stdio listener with hostile bytes: a line that is not UTF-8 is a parse error (never decoded
 * with U+FFFD and executed), and a multi-byte character split across reads still arrives whole.
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
