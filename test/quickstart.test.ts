/**
 * The quickstart as shipped (examples/quickstart.yaml and its policy), as the README walks a newcomer
 * through it: the tools the config classifies READ run; a write waits for a person, runs once when
 * approved, and its approver sees the file it writes; a path out of the folder is refused before
 * anyone is asked; the tools nobody classified are neither listed nor run. Its own port, state and
 * files folder; the sandbox as configured.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, runCli, startCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-quickstart-'));
// The sandbox's user (nobody) must reach the folder the files server writes to, as in the repository.
chmodSync(dir, 0o755);
// The policy guards tmp/quickstart-files relative to its own folder, as in the repository: the test
// keeps that layout (examples/ and tmp/ side by side) in its own directory.
const files = join(dir, 'tmp', 'quickstart-files');
const policy = join(dir, 'examples', 'quickstart-policy.yaml');
let gw: Awaited<ReturnType<typeof startCli>>;
let client: Client;

before(async () => {
  mkdirSync(join(dir, 'examples'), { mode: 0o755 });
  mkdirSync(join(dir, 'tmp'), { mode: 0o755 });
  copyFileSync(join(ROOT, 'examples/quickstart-policy.yaml'), policy);
  const text = readFileSync(join(ROOT, 'examples/quickstart.yaml'), 'utf8')
    .replace('port: 8765', 'port: 0')
    .replace(/stateDir: .*/, 'stateDir: state')
    .replaceAll('cwd: ..', `cwd: ${JSON.stringify(ROOT)}`)
    .replace('../examples/quickstart-policy.yaml', JSON.stringify(policy))
    .replaceAll(`${'$'}{GATEHOUSE_CONFIG_DIR}/../tmp/quickstart-files`, files);
  gw = await startCli(text, dir);
  client = new Client({ name: 'newcomer', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`)));
});
after(async () => {
  await client?.close();
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const text = (r: unknown) => JSON.stringify((r as { content?: unknown }).content);

test('reads run; the tools nobody classified are neither listed nor run', async () => {
  const names = (await client.listTools()).tools.map((t) => t.name);
  for (const n of ['everything__echo', 'files__read_text_file', 'files__write_file']) assert.ok(names.includes(n), n);
  for (const n of ['everything__get-env', 'everything__trigger-long-running-operation'])
    assert.ok(!names.includes(n), `${n} is listed`);
  assert.match(
    text(await client.callTool({ name: 'everything__echo', arguments: { message: 'hello' } })),
    /Echo: hello/,
  );
  await assert.rejects(client.callTool({ name: 'everything__get-env', arguments: {} }), /unknown tool/);
});

test('a write waits for a person, and runs once when approved', async () => {
  const path = join(files, 'hello.txt');
  const args = { path, content: 'hi' };
  const first = await client.callTool({ name: 'files__write_file', arguments: args });
  assert.equal(first.isError, true);
  assert.match(text(first), /needs a person's approval.*Nothing ran/);
  assert.ok(!existsSync(path), 'nothing was written');
  const id = (first._meta?.['io.gatehouse/approval'] as { id: string } | undefined)?.id ?? '';
  assert.match(id, /^apr_/);
  const file = join(dir, 'gatehouse.yaml');
  // Approvers see the exact target: the file, as the policy's resources name it.
  const shown = await runCli(['approvals', 'show', id, '--json', '-c', file]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal((JSON.parse(shown.stdout) as { resource?: string }).resource, `path:${path}`);
  // And the write as a diff against the file as it is (approvals.readTools): here, a new file (walk R).
  const page = await fetch(`${gw.url}/approvals/${id}`).then((r) => r.text());
  assert.match(page, /New file <code>[^<]*hello\.txt<\/code>/);
  const ok = await runCli(['approvals', 'approve', id, '--role', 'gatehouse-admin', '--reason', 'try-out', '-c', file]);
  assert.equal(ok.code, 0, ok.stderr);
  const again = await client.callTool({
    name: 'files__write_file',
    arguments: args,
    _meta: { 'io.gatehouse/approval': id },
  });
  assert.notEqual(again.isError, true, text(again));
  assert.equal(readFileSync(path, 'utf8'), 'hi');
  await assert.rejects(
    client.callTool({ name: 'files__write_file', arguments: args, _meta: { 'io.gatehouse/approval': id } }),
    /already been used/,
    'an approval runs one call',
  );
});

test('a path out of the quickstart folder is refused before anyone is asked', async () => {
  const before = await runCli(['approvals', 'list', '--json', '-c', join(dir, 'gatehouse.yaml')]);
  const refused = [
    [`${files}/../../state/x`, /denied by policy \(`resource:refused`\): path `.*` contains a `\.\.` segment/],
    [join(dir, 'elsewhere.txt'), /denied by policy \(`resource:refused`\): path `.*` is outside `.*quickstart-files`/],
  ] as const;
  for (const [path, why] of refused)
    await assert.rejects(client.callTool({ name: 'files__write_file', arguments: { path, content: 'x' } }), why);
  assert.ok(!existsSync(join(dir, 'elsewhere.txt')), 'nothing was written');
  const after = await runCli(['approvals', 'list', '--json', '-c', join(dir, 'gatehouse.yaml')]);
  assert.equal(after.stdout, before.stdout, 'no approval was asked for');
});

test('shadow mode: a tool with an output schema answers that nothing ran, in a form an SDK client takes', async () => {
  const file = join(dir, 'gatehouse.yaml');
  const set = await runCli(['mode', 'set', 'shadow', '--gateway', '--reason', 'rollout', '-c', file]);
  assert.equal(set.code, 0, set.stderr);
  try {
    await client.listTools(); // the SDK client checks results against the output schemas it listed
    const path = join(files, 'shadow.txt');
    // The gateway applies a run-time mode within a second; until then a write waits for approval
    // (each try is a pending request, so few tries, spaced out).
    let r: Awaited<ReturnType<Client['callTool']>> | undefined;
    for (let i = 0; i < 4 && !r?._meta?.['io.gatehouse/shadow']; i++) {
      await new Promise((res) => setTimeout(res, 900));
      r = await client.callTool({ name: 'files__write_file', arguments: { path, content: 'x' } });
    }
    assert.equal(r?._meta?.['io.gatehouse/shadow'], true, JSON.stringify(r));
    assert.match(text(r), /did NOT run it/);
    assert.ok(!existsSync(path), 'nothing was written');
  } finally {
    assert.equal((await runCli(['mode', 'clear', '--gateway', '-c', file])).code, 0);
  }
});

test("policy test decides a case with the config's class: a case stating another is an error", async () => {
  const file = join(dir, 'gatehouse.yaml');
  const cases = join(dir, 'cases.yaml');
  const head = `cases:
  - name: a write waits for a person
    subject: { subject: dev, tenant: default }
    tool: files__write_file
    args: { path: ${JSON.stringify(join(files, 'a.txt'))}, content: x }
    expect: approve
`;
  writeFileSync(cases, head);
  const ok = await runCli(['policy', 'test', cases, '-c', file]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /1 passed, 0 failed/);
  writeFileSync(
    cases,
    `${head}  - name: a write called a read
    subject: { subject: dev, tenant: default }
    tool: files__write_file
    class: READ
    expect: allow
`,
  );
  const bad = await runCli(['policy', 'test', cases, '-c', file]);
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.match(
    bad.stderr,
    /cases\.yaml:10:\d+: cases\[1\]\.class: case `a write called a read` says class READ, but the config classifies `files__write_file` as WRITE/,
  );
});
