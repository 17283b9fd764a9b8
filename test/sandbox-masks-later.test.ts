/**
 * The masks over the gateway's files and `.env` files while a sandboxed server runs: a file replaced
 * by rename (an editor saving it, a token rotated) took its mask with it, since the kernel detaches a
 * mount from a name unlinked in another namespace, and a secret file created later in a shown folder
 * was never masked. A read-only folder holding something to hide is now shown as a folder of its own,
 * with its entries as at launch: the hostile server (test/fixtures/upstreams/hostile-server.ts), kept
 * running, reads neither the new contents nor the new files. Real gateway, real bubblewrap.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey } from './support/gateway.ts';
import { parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { findExecutable } from '../src/util/paths.ts';
import { postModernCall } from './support/rpc.ts';

const HOSTILE = join(ROOT, 'test/fixtures/upstreams/hostile-server.ts');
const usable = !!findExecutable('bwrap');
const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-later-')));
chmodSync(dir, 0o755);
const BEFORE = 'secret-at-launch-1c2d';
const LATER = 'secret-written-later-9e8f';
const tools = ['read_file', 'list_dir'];
const classes = `    tools: { ${tools.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;
const modules = realpathSync(join(ROOT, 'node_modules'));
const linked = modules === join(ROOT, 'node_modules') ? [] : [modules];
const file = join(dir, 'gatehouse.yaml');
const policy = join(dir, 'policy.yaml');
const envLocal = join(dir, '.env.local');
const data = join(dir, 'data');
const db = join(data, 'gh.db');
let gw: Gateway;
let key = '';

before(async () => {
  if (!usable) return;
  writeFileSync(envLocal, `PASSWORD=${BEFORE}\n`, { mode: 0o644 });
  writeFileSync(
    policy,
    `# ${BEFORE}\nrules:\n  - { id: all, subjects: { tenants: [acme] }, tools: ["*"], effect: allow }\n`,
  );
  mkdirSync(data, { mode: 0o755 });
  const yaml =
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\n` +
    'storage: { sqlitePath: ../data/gh.db }\nidentity: { apiKeys: true }\npolicy: { files: [policy.yaml] }\nservers:\n' +
    `  - name: jailed\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([HOSTILE])}\n` +
    `    cwd: ${JSON.stringify(dir)}\n${classes}    sandbox: { paths: { read: ${JSON.stringify([...linked, data])} } }\n`;
  writeFileSync(file, yaml, { mode: 0o644 });
  gw = await Gateway.start(parseConfig(yaml, file), {
    log: process.env.GATEHOUSE_TEST_LOG ? undefined : silentLogger(),
  });
  await gw.waitForUpstreams(20_000);
  key = await createKey(file, { name: 'acme', tenant: 'acme', scopes: 'x' });
});
after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(name: string, args: Record<string, unknown>): Promise<string> {
  const r = await postModernCall(gw.url, name, args, { token: key });
  const body = (await r.json()) as { result?: { content: Array<{ text: string }> } };
  if (!body.result) throw new Error(`${name}: ${JSON.stringify(body)}`);
  return body.result.content[0].text;
}
const decoded = (answer: string) =>
  answer.startsWith('ok: ') ? Buffer.from(answer.slice(4), 'base64').toString() : answer;

/** `path` written anew beside it and renamed over it, as editors and token rotators do. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.new`, text, { mode: 0o644 });
  renameSync(`${path}.new`, path);
}

test('a masked file replaced by rename, and secret files made later, stay out of sight of a running sandbox', async (tc) => {
  if (!usable) {
    if (process.env.CI === 'true') assert.fail('bubblewrap (bwrap) is not installed');
    return tc.skip('bubblewrap (bwrap) is not installed');
  }
  // The server runs, and sees empty files where the secrets are.
  assert.equal(await call('jailed__read_file', { path: envLocal }), 'ok: ');
  assert.equal(await call('jailed__read_file', { path: policy }), 'ok: ');
  assert.match(await call('jailed__list_dir', { path: dir }), /gatehouse\.yaml/);
  // While it runs: the files are replaced by rename, and new ones appear beside them.
  replace(envLocal, `PASSWORD=${LATER}\n`);
  replace(policy, `# ${LATER}\nrules:\n  - { id: all, subjects: { tenants: [acme] }, tools: ["*"], effect: allow }\n`);
  writeFileSync(join(dir, '.env.production'), `PASSWORD=${LATER}\n`, { mode: 0o644 });
  writeFileSync(`${db}-journal`, LATER, { mode: 0o644 });
  for (const path of [envLocal, policy, join(dir, '.env.production'), `${db}-journal`]) {
    const seen = decoded(await call('jailed__read_file', { path }));
    assert.doesNotMatch(seen, new RegExp(LATER), path);
    assert.doesNotMatch(seen, new RegExp(BEFORE), path);
  }
  assert.doesNotMatch(await call('jailed__list_dir', { path: dir }), /\.env\.production/);
  assert.doesNotMatch(await call('jailed__list_dir', { path: data }), /journal/);
});
