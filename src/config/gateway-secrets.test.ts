/**
 * The gateway's own secrets in what it logs of its servers (walk N): a server that prints the
 * secrets key, the store's password or the metrics token on stderr is logged without them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logTo } from '../../test/support/logs.ts';
import { parseConfig } from './load.ts';
import { gatewaySecretValues } from './gateway-secrets.ts';
import { SecretScrubber, scrubbingLogger } from '../credentials/scrub.ts';
import { StdioChannel } from '../upstream/stdio.ts';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const env = {
  DATABASE_URL: 'postgres://gh:store-pass-CANARY@127.0.0.1:5432/gh',
  METRICS_TOKEN: 'metrics-token-CANARY-0123',
  HEC_TOKEN: 'hec-token-CANARY',
  GATEHOUSE_SECRETS_KEY: KEY.toString('base64'),
};
const ref = (name: string) => `\${${name}}`;
const config = parseConfig(
  [
    'version: 1',
    `storage: { driver: postgres, postgresUrl: "${ref('DATABASE_URL')}" }`,
    `gateway: { metricsToken: "${ref('METRICS_TOKEN')}" }`,
    'audit:',
    '  exports:',
    `    - { name: splunk, type: http, format: splunk-hec, url: "https://splunk.example.com/c", headers: { Authorization: "Splunk ${ref('HEC_TOKEN')}" } }`,
    'servers: []',
    '',
  ].join('\n'),
  'g.yaml',
  env,
);

test("the gateway's own secrets: the store's password (not its address), the metrics token, a sink's token, the secrets key", () => {
  const values = gatewaySecretValues(config, env, KEY);
  for (const v of ['store-pass-CANARY', env.METRICS_TOKEN, 'hec-token-CANARY', env.GATEHOUSE_SECRETS_KEY])
    assert.ok(values.includes(v), v);
  assert.ok(!values.some((v) => v.includes('127.0.0.1')), 'an address is no secret');
});

test("a server's stderr is logged without the gateway's own secrets", async () => {
  const lines: string[] = [];
  const log = logTo('info', (c) => lines.push(...c.trim().split('\n')), { base: undefined });
  const scrubber = new SecretScrubber();
  scrubber.own(gatewaySecretValues(config, env, KEY));
  const printed = ['store-pass-CANARY', env.METRICS_TOKEN, 'hec-token-CANARY', env.GATEHOUSE_SECRETS_KEY];
  const script = `for (const v of ${JSON.stringify(printed)}) process.stderr.write('KEYSEEN=' + v + '\\n'); process.exit(3)`;
  const ch = new StdioChannel(
    'leaky',
    { command: process.execPath, args: ['-e', script], env: {} },
    scrubbingLogger(log, scrubber),
  );
  const closed = new Promise<unknown>((res) => ch.setReceiver({ message: () => {}, closed: res }));
  await closed;
  await ch.stderrTail();
  await ch.close();
  const stderr = lines.filter((l) => JSON.parse(l).msg === 'upstream stderr');
  assert.equal(stderr.length, printed.length, lines.join('\n'));
  for (const l of stderr) {
    assert.match(l, /KEYSEEN=\[REDACTED/);
    assert.ok(!l.includes('CANARY') && !l.includes(env.GATEHOUSE_SECRETS_KEY), l);
  }
});
