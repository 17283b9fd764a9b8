/**
 * The gateway's own secrets never reach a server it starts (walk N): a config that hands a stdio
 * server the secrets key is refused by `config validate` and `start`, at its line and without the
 * value; and a server that prints its whole environment on stderr, sandboxed or not, has no key to
 * print, and the gateway's log of its stderr shows none.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli } from './support/gateway.ts';
import { findExecutable } from '../src/util/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-own-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEY = randomBytes(32).toString('base64');
const head = (name: string) =>
  `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, name))}\n`;
/** A server that prints its environment on stderr, then waits (it speaks no MCP: its start fails, and is retried). */
const printer = (name: string, extra: string) =>
  `  - name: ${name}\n    transport: stdio\n    command: /bin/sh\n    args: ["-c", "env | sed 's/^/ENVSEEN /' >&2; sleep 5"]\n${extra}`;

test('a stdio server given the secrets key through inheritEnv: refused by validate and start at its line, without the key', async () => {
  const file = join(dir, 'inherit.yaml');
  writeFileSync(
    file,
    `${head('state-inherit')}servers:\n${printer('boxed', '    sandbox: {}\n    inheritEnv: [PATH, GATEHOUSE_SECRETS_KEY]\n')}`,
  );
  for (const command of [
    ['config', 'validate', file],
    ['start', '--config', file],
  ]) {
    const r = await runCli(command, { env: { GATEHOUSE_SECRETS_KEY: KEY } });
    assert.equal(r.code, 2, r.stdout);
    assert.match(
      r.stderr,
      /inherit\.yaml:11:24: servers\[0\]\.inheritEnv\[1\]: `GATEHOUSE_SECRETS_KEY` is the gateway's own/,
    );
    assert.ok(!r.stderr.includes(KEY) && !r.stdout.includes(KEY));
  }
});

test('a server that prints its environment on stderr has no secrets key to print, sandboxed or not', async () => {
  const sandboxed = findExecutable('bwrap') ? [printer('boxed', '    sandbox: {}\n')] : [];
  const before = process.env.GATEHOUSE_SECRETS_KEY;
  process.env.GATEHOUSE_SECRETS_KEY = KEY;
  try {
    const g = await startCli(`${head('state-print')}servers:\n${printer('open', '')}${sandboxed.join('')}`, dir);
    try {
      for (const name of ['open', ...(sandboxed.length ? ['boxed'] : [])])
        await g.logged(new RegExp(`"upstream":"${name}".*"stderr":"ENVSEEN PATH=`));
      assert.ok(!g.log().includes(KEY), 'the key is nowhere in the log');
      assert.doesNotMatch(g.log(), /ENVSEEN GATEHOUSE_/);
    } finally {
      await g.stop();
    }
  } finally {
    if (before === undefined) delete process.env.GATEHOUSE_SECRETS_KEY;
    else process.env.GATEHOUSE_SECRETS_KEY = before;
  }
});
