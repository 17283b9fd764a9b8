/**
 * A config that cannot run is refused where it is written, the same way by `config validate`, by
 * `start` and by a reload (walk L): each refusal names the file, the line and the key.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVERYTHING, runCli, startCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-refusals-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const everything = `  - name: one\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EVERYTHING)}, stdio]\n`;
const head = (name: string) =>
  `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, name))}\n`;

/** `config validate` and `start` on `text`: both refuse it, with exit status 2, and say the same (start after a heading). */
async function refusedBoth(name: string, text: string, env: Record<string, string> = {}): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  const validated = await runCli(['config', 'validate', file], { env });
  assert.equal(validated.code, 2, validated.stdout);
  const started = await runCli(['start', '--config', file], { env });
  assert.equal(started.code, 2, started.stdout);
  assert.equal(started.stderr, `gatehouse: invalid configuration:\n${validated.stderr}`);
  assert.doesNotMatch(started.stderr, /could not start|\n\s+at /);
  return validated.stderr;
}

test('a redaction path the redactor cannot read: refused by validate, start and a reload, at its line', async () => {
  const bad = `audit:\n  redact:\n    paths: ["$..[[[bad"]\nservers:\n${everything}`;
  const said = await refusedBoth('redact', head('state-redact') + bad);
  assert.match(said, /redact\.yaml:7:13: audit\.redact\.paths\[0\]: not a redaction path: unclosed \[ at 3/);
  const g = await startCli(`${head('state-redact-reload')}servers:\n${everything}`, dir);
  try {
    writeFileSync(g.file, head('state-redact-reload') + bad);
    g.child.kill('SIGHUP');
    const line = await g.logged(/configuration reload refused/);
    assert.match(line, /gatehouse\.yaml:7:13: audit\.redact\.paths\[0\]: not a redaction path/);
  } finally {
    await g.stop();
  }
});

test('a host to listen on that is neither an IP address nor a host name: refused by validate and start at its line', async () => {
  const text = `${head('state-host').replace('host: 127.0.0.1', 'host: not-a-host_name')}servers:\n${everything}`;
  const said = await refusedBoth('host', text);
  assert.match(said, /host\.yaml:3:19: gateway\.listen\.host: must be an IP address .* or a host name/);
  assert.doesNotMatch(said, /ENOTFOUND|getaddrinfo/);
});

test('a credential in an upstream URL: refused by validate and start at its line, without its value', async () => {
  const leaky = `${head('state-url')}servers:\n  - { name: db, transport: http, url: "http://127.0.0.1:42999/mcp?api_key=\${MY_DB_PASS}" }\n`;
  const said = await refusedBoth('url', leaky, { MY_DB_PASS: 'hunter2-CANARY' });
  assert.match(
    said,
    /url\.yaml:6:39: servers\[0\]\.url: must not carry an environment variable: put the credential in `headers:`/,
  );
  assert.doesNotMatch(said, /hunter2/);
});

test('a secrets key made with `openssl rand -hex 32`: check fails 2.7 and start says how to make one, never the key', async () => {
  const file = join(dir, 'key.yaml');
  writeFileSync(file, `${head('state-key')}servers: []\n`);
  const env = { GATEHOUSE_SECRETS_KEY: 'a1'.repeat(32) };
  const checked = await runCli(['check', '--json', '-c', file], { env });
  const items = (JSON.parse(checked.stdout) as { items: Array<{ id: string; status: string; why: string }> }).items;
  const key = items.find((i) => i.id === '2.7');
  assert.equal(key?.status, 'fail');
  assert.match(
    key.why,
    /^GATEHOUSE_SECRETS_KEY is not 32 bytes of base64 \(this one is hex\): make one with `openssl rand -base64 32`/,
  );
  const started = await runCli(['start', '--config', file], { env });
  assert.notEqual(started.code, 0);
  assert.match(
    started.stderr,
    /GATEHOUSE_SECRETS_KEY is not 32 bytes of base64 \(this one is hex\): make one with `openssl rand -base64 32`/,
  );
  assert.doesNotMatch(checked.stdout + started.stderr, /a1a1/);
});

test('a listen address this machine does not have: start says which key, not the resolver', async () => {
  const file = join(dir, 'not-here.yaml');
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): a well-formed address no machine here has.
  writeFileSync(file, `${head('state-not-here').replace('host: 127.0.0.1', 'host: 192.0.2.1')}servers: []\n`);
  assert.equal((await runCli(['config', 'validate', file])).code, 0);
  const started = await runCli(['start', '--config', file]);
  assert.equal(started.code, 1, started.stdout);
  assert.match(
    started.stderr,
    /could not start: gateway\.listen\.host `192\.0\.2\.1` is not an address of this machine \(EADDRNOTAVAIL\)/,
  );
  assert.doesNotMatch(started.stderr, /\n\s+at /);
});
