/**
 * Walk S (F3): a `storage.postgresUrl` that is no postgres URL (here a password, put in DATABASE_URL
 * by mistake) validated, and `gatehouse start` printed it whole ("cannot connect to postgresql at
 * hunter2-SUPERSECRET-9f8e"). It is refused at its line when the config is loaded, by every command
 * that loads it, and nothing of it is shown.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pgurl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CANARY = 'hunter2-SUPERSECRET-9f8e';

test('a postgresUrl that is not a postgres URL is refused at its line by validate, check and start, never echoed', async () => {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 1 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\nstorage:\n  driver: postgres\n  postgresUrl: "\${DATABASE_URL}"\nservers: []\n`,
  );
  for (const value of [CANARY, 'hunter2:SUPERSECRET-9f8e', 'mysql://u:SUPERSECRET-9f8e@h/db']) {
    for (const args of [['config', 'validate'], ['start'], ['check']]) {
      const r = await runCli([...args, '-c', file], { env: { DATABASE_URL: value } });
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 2, `${args.join(' ')}: ${out}`);
      assert.match(
        out,
        /gatehouse\.yaml:7:\d+: storage\.postgresUrl: is not a `postgres:\/\/` or `postgresql:\/\/` URL/,
        `${args.join(' ')}: ${out}`,
      );
      assert.ok(!out.includes('SUPERSECRET') && !out.includes('hunter2'), `${args.join(' ')} echoes nothing of it`);
    }
  }
  // A postgres URL passes the check (the connection is the store's to try).
  const ok = await runCli(['config', 'validate', '-c', file], {
    env: { DATABASE_URL: 'postgresql:///db?host=/run/postgresql' },
  });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
});
