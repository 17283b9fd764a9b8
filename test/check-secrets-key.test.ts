/**
 * `gatehouse check` 2.7 against a running gateway: the gateway records its secrets key's id in the
 * store at start, and check compares it with the key its own environment reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startGateway } from './support/gateway.ts';

test("check 2.7 compares a running gateway's key with its own: the same passes, another warns", async () => {
  const t = await startGateway('');
  try {
    const key2_7 = async (env?: Record<string, string>) => {
      const r = await runCli(['check', '--json', '-c', t.file], { env });
      return (JSON.parse(r.stdout).items as Array<{ id: string; status: string; why: string }>).find(
        (i) => i.id === '2.7',
      )!;
    };
    // The key file the gateway made in its state directory, read by check too.
    const same = await key2_7();
    assert.equal(same.status, 'pass', same.why);
    assert.match(same.why, /the same key as all 1 live gateway\(s\)$/);
    const other = await key2_7({ GATEHOUSE_SECRETS_KEY: Buffer.alloc(32, 9).toString('base64') });
    assert.equal(other.status, 'warn');
    assert.match(other.why, /^the live gateways share one key \([0-9a-f]{16}\), but not GATEHOUSE_SECRETS_KEY/);
  } finally {
    await t.close();
  }
});
