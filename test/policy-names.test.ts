/**
 * Policy names that match nothing, said wherever the policy is read, by the one reading
 * (src/inventory/policy-names.ts): a real gateway process logs each at start (the configured servers
 * at once, the tools once its servers are first catalogued) and at a reload, at the rule's file and
 * line; `gatehouse check` makes them a warning of item 3.1; `gatehouse config validate` lists them.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, startCli, stdioServer } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-names-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const policy = join(dir, 'policy.yaml');
const CONFIG = `version: 1
gateway:
  listen: { host: 127.0.0.1, port: 0 }
  stateDir: ${JSON.stringify(join(dir, 'state'))}
policy: { files: [policy.yaml] }
servers:
${stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts'))}    env: { RECORD_FILE: ${JSON.stringify(join(dir, 'rec.jsonl'))} }
`;
const RULES = `rules:
  - id: typo
    effect: allow
    tools: [rec__recrod]
  - id: server
    effect: allow
    tools: [recc__record]
`;
const typo =
  /"policy: [^"]*policy\.yaml:2: rule `typo` names tool `rec__recrod`, but server `rec` has listed no tool `recrod` \(did you mean `rec__record`\?\)/;
const server =
  /"policy: [^"]*policy\.yaml:5: rule `server` names tool `recc__record`, but no server `recc` is configured \(did you mean `rec`\?\)/;

test('the gateway warns at start and at reload, at file:line, of rules naming no configured server or no listed tool; check 3.1 warns', async () => {
  writeFileSync(policy, RULES);
  const g = await startCli(CONFIG, dir);
  try {
    await g.logged(server);
    await g.logged(typo); // once rec is catalogued: a fresh inventory listed nothing at start
    const logged = g.log().length;
    writeFileSync(policy, `${RULES}  - id: slow\n    effect: allow\n    tools: [rec__slwo]\n`);
    g.child.kill('SIGHUP');
    await g.logged(/configuration reloaded/, logged);
    const reload = g.log().slice(logged);
    assert.match(reload, typo, 'said again at the reload');
    assert.match(
      reload,
      /"policy: [^"]*policy\.yaml:8: rule `slow` names tool `rec__slwo`, but server `rec` has listed no tool `slwo` \(did you mean `rec__slow`\?\)/,
    );
  } finally {
    await g.stop();
  }
  const r = await runCli(['check', '--json', '-c', g.file]);
  const item = (
    JSON.parse(r.stdout) as { items: Array<{ id: string; status: string; why: string; fix: string }> }
  ).items.find((i) => i.id === '3.1');
  assert.equal(item?.status, 'warn', r.stdout);
  assert.match(
    item!.why,
    /3 name\(s\) match nothing, so they allow or forbid nothing: .*policy\.yaml:2: rule `typo` names tool `rec__recrod`/,
  );
  assert.match(item!.why, /policy\.yaml:5: rule `server` names tool `recc__record`, but no server `recc`/);
  assert.match(item!.fix, /gatehouse config validate/);
  writeFileSync(policy, 'rules:\n  - id: ok\n    effect: allow\n    tools: [rec__record, rec__*]\n');
  const clean = await runCli(['check', '--json', '-c', g.file]);
  const passed = (JSON.parse(clean.stdout) as { items: Array<{ id: string; status: string }> }).items.find(
    (i) => i.id === '3.1',
  );
  assert.equal(passed?.status, 'pass', clean.stdout);
});
