/**
 * An audit export whose destination never answers (a closed loopback port): the gateway counts its
 * failed attempts and its backlog in the metrics, and `gatehouse check` warns that it has never
 * delivered a record instead of passing it as exported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { freePort } from './support/processes.ts';

test('an export to a closed port shows in the metrics as failures and lag, and check warns 5.4 and 7.4', async () => {
  const port = await freePort(); // nothing listens there
  const t = await startGateway('', {
    top: `audit:\n  exports:\n    - { name: siem, type: http, format: splunk-hec, url: "https://127.0.0.1:${port}/services/collector", headers: { Authorization: "Splunk x" } }\n`,
  });
  try {
    const metrics = await eventually(
      async () => {
        const text = await (await fetch(`${t.url}/metrics`)).text();
        return /^gatehouse_audit_export_failures_total\{export="siem"\} [1-9]\d*$/m.test(text) ? text : undefined;
      },
      { timeoutMs: 20_000 },
    );
    // The gateway's start is recorded, and never sent.
    assert.match(metrics, /^gatehouse_audit_export_lag_records\{export="siem"\} [1-9]\d*$/m);
    const r = await runCli(['check', '--json', '-c', t.file]);
    const items = JSON.parse(r.stdout).items as Array<{ id: string; status: string; why: string }>;
    const at = (id: string) => items.find((i) => i.id === id)!;
    assert.equal(at('5.4').status, 'warn');
    assert.match(at('5.4').why, /^siem has not delivered a record yet: \d+ waiting$/);
    assert.equal(at('7.4').status, 'warn');
    assert.match(at('7.4').why, /siem has not delivered a record yet/);
  } finally {
    await t.close();
  }
});
