/**
 * The `gatehouse` command as an operator uses it: --help everywhere, init, config validate (text and
 * --json, errors at file:line), start --json, reload on SIGHUP (a bad config keeps the last good one),
 * and `gatehouse stdio` driven by a real SDK client.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { EVERYTHING, ROOT, startCli } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { requireService } from './support/services.ts';

const CLI = join(ROOT, 'src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const everything = (name: string) =>
  `  - name: ${name}\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(EVERYTHING)}, stdio]\n`;

test('every command has --help', () => {
  for (const cmd of [
    [],
    ['start'],
    ['stdio'],
    ['init'],
    ['config'],
    ['config', 'validate'],
    ['inventory'],
    ['inventory', 'list'],
    ['inventory', 'diff'],
    ['inventory', 'accept'],
    ['inventory', 'classify'],
    ['inventory', 'events'],
    ['check'],
  ]) {
    const r = run(...cmd, '--help');
    assert.equal(r.code, 0, cmd.join(' '));
    assert.match(r.out, /Usage: gatehouse/);
  }
});

test('init writes a starter config that validates; it refuses to overwrite without --force', () => {
  const file = join(dir, 'starter.yaml');
  assert.equal(run('init', file).code, 0);
  assert.match(readFileSync(file, 'utf8'), /^version: 1$/m);
  const v = run('config', 'validate', file);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /valid \(1 server\)\n/);
  const again = run('init', file);
  assert.equal(again.code, 2);
  assert.match(again.err, /exists: nothing was written; use --force/);
  assert.equal(run('init', file, '--force').code, 0);
});

test('init into a folder that does not exist, or at a folder, says what is wrong (exit 2) and makes nothing', () => {
  const missing = run('init', 'sub/dir/x.yaml');
  assert.equal(missing.code, 2, missing.err);
  assert.equal(
    missing.err,
    'gatehouse: the folder `sub/dir` does not exist: create it first (mkdir -p sub/dir), or give another path\n',
  );
  assert.deepEqual(readdirSync(dir).includes('sub'), false, 'no folder was made');
  const folder = run('init', '.');
  assert.equal(folder.code, 2, folder.err);
  assert.match(folder.err, /^gatehouse: `\.` is a folder: give the path of a file, such as gatehouse\.yaml\n$/);
});

test('commands that change or report something print it as JSON with --json', () => {
  for (const cmd of [
    ['mode', 'set'],
    ['mode', 'clear'],
    ['mode', 'list'],
    ['credentials', 'revoke'],
    ['credentials', 'restore'],
    ['principals', 'revoke'],
    ['principals', 'restore'],
    ['upstream', 'forget'],
    ['secrets', 'set'],
    ['secrets', 'delete'],
    ['secrets', 'rotate-key'],
    ['audit', 'checkpoints'],
    ['audit', 'key'],
    ['audit', 'export'],
    ['audit', 'verify'],
    ['incident', 'open'],
  ]) {
    const r = run(...cmd, '--help');
    assert.equal(r.code, 0, cmd.join(' '));
    assert.match(r.out, /--json/, cmd.join(' '));
    // Every option says what it is.
    for (const line of r.out.split('\n').filter((l) => /^ {2}-/.test(l)))
      assert.match(line, /^ {2}\S.*\S {2,}\S/, `${cmd.join(' ')}: an option without help: ${line}`);
  }
});

test('usage errors are bad input (exit 2) and say what is wrong; help and version exit 0', () => {
  const missing = run('mode', 'set', 'disabled', '--tool', 'x__y');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /required option '--reason <text>' not specified/);
  const unknown = run('inventory', '--no-such-option');
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown option '--no-such-option'/);
  assert.equal(run('mode', 'set', '--help').code, 0);
  assert.equal(run('--version').code, 0);
});

test('an error a command cannot get past is one line that says what to fix: no stack trace, no install paths', () => {
  const file = join(dir, 'key-check.yaml');
  assert.equal(run('init', file).code, 0);
  const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_SECRETS_KEY: 'short' };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, [CLI, 'secrets', 'list', '-c', file], { cwd: dir, encoding: 'utf8', env });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(
    r.stderr,
    'gatehouse: local: GATEHOUSE_SECRETS_KEY is not 32 bytes of base64: make one with `openssl rand -base64 32`\n',
  );
});

test('secrets list names each secret as the store does and as a config refers to it, in text and in json (walk R)', () => {
  const file = join(dir, 'secrets-list.yaml');
  assert.equal(run('init', file).code, 0);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.GATEHOUSE_SECRETS_KEY;
  const set = spawnSync(process.execPath, [CLI, 'secrets', 'set', 'demo-token', '-c', file], {
    cwd: dir,
    encoding: 'utf8',
    env,
    input: 'not-shown-value',
  });
  assert.equal(set.status, 0, set.stderr);
  const text = spawnSync(process.execPath, [CLI, 'secrets', 'list', '-c', file], { cwd: dir, encoding: 'utf8', env });
  assert.match(text.stdout, /^demo-token\s+local:demo-token\s+\d{4}-/m);
  const json = spawnSync(process.execPath, [CLI, 'secrets', 'list', '--json', '-c', file], {
    cwd: dir,
    encoding: 'utf8',
    env,
  });
  const listed = (JSON.parse(json.stdout) as { secrets: Array<{ name: string; ref: string }> }).secrets;
  assert.deepEqual(
    listed.map((x) => [x.name, x.ref]),
    [['demo-token', 'local:demo-token']],
  );
  assert.ok(!`${text.stdout}${json.stdout}`.includes('not-shown-value'));
});

test('config validate points at the line and key, in text and in json', () => {
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'version: 1\nservers:\n  - name: a\n    transport: stdio\n    comand: npx\n');
  const text = run('config', 'validate', file);
  assert.equal(text.code, 2);
  assert.match(text.err, /broken\.yaml:5:5: servers\[0\]: unknown key `comand` \(did you mean `command`\?\)/);
  const json = run('config', 'validate', file, '--json');
  assert.equal(json.code, 2);
  const body = JSON.parse(json.out) as { valid: boolean; issues: Array<{ line: number; path: string }> };
  assert.equal(body.valid, false);
  assert.ok(body.issues.some((i) => i.line === 5 && i.path === 'servers[0]'));
});

test("config validate warns at the line of a credential written in a server's headers or env, as check 2.2 judges it, never echoing it", () => {
  const file = join(dir, 'clear-secrets.yaml');
  writeFileSync(
    file,
    [
      'version: 1',
      `gateway: { stateDir: ${JSON.stringify(join(dir, 'state-clear'))} }`,
      'servers:',
      '  - name: remote',
      '    transport: http',
      '    url: https://mcp.example.com/mcp',
      '    headers:',
      '      X-Trace: "on"',
      '      Authorization: "Bearer s3cr3t-literal-value"',
      '  - name: local',
      '    transport: stdio',
      '    command: x',
      '    env: { MODE: fast, LOG: "ghp_s3cr3tliteralvalue" }',
      '',
    ].join('\n'),
  );
  const text = run('config', 'validate', file);
  assert.equal(text.code, 0, text.err);
  const warnings = text.err.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 2, text.err);
  assert.match(
    warnings[0],
    /^warning: .*clear-secrets\.yaml:9:22: servers\[0\]\.headers\.Authorization: `Authorization` holds a credential written in the config \(`gatehouse check` fails it, item 2\.2: .*\): reference it instead, `credentials: \{ headers: \{ Authorization: \{ ref: "local:<name>", prefix: "Bearer " \} \} \}`, or `env:<NAME>`/,
  );
  assert.match(
    warnings[1],
    /clear-secrets\.yaml:13:\d+: servers\[1\]\.env\.LOG: `LOG` holds a credential .*`credentials: \{ env: \{ LOG: "local:<name>" \} \}`/,
  );
  const json = run('config', 'validate', file, '--json');
  assert.equal(json.code, 0);
  assert.equal(json.err, '');
  const body = JSON.parse(json.out) as { valid: boolean; warnings: Array<{ line: number; path: string }> };
  assert.deepEqual(
    body.warnings.map((w) => [w.line, w.path]),
    [
      [9, 'servers[0].headers.Authorization'],
      [13, 'servers[1].env.LOG'],
    ],
  );
  assert.ok(!`${text.out}${text.err}${json.out}`.includes('s3cr3t'), 'the value is never echoed');
  // The same judgement as check 2.2, which fails exactly these two.
  const check = run('check', '--json', '-c', file);
  const item = (JSON.parse(check.out) as { items: Array<{ id: string; status: string; why: string }> }).items.find(
    (i) => i.id === '2.2',
  );
  assert.equal(item?.status, 'fail');
  assert.equal(
    item?.why,
    'static credentials in remote (servers[0].headers.Authorization), local (servers[1].env.LOG)',
  );
});

test('a password written in the store or Redis URL is warned of at its line and fails check 2.2; a reference to the environment is not (walk T)', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const write = (name: string, pg: string, redis: string) => {
    const file = join(dir, name);
    writeFileSync(
      file,
      [
        'version: 1',
        `gateway: { stateDir: ${JSON.stringify(join(dir, `state-${name}`))} }`,
        `storage: { driver: postgres, postgresUrl: "${pg}" }`,
        'limits:',
        `  redis: { url: "${redis}" }`,
        '  rules: []',
        'servers: []',
        '',
      ].join('\n'),
    );
    return file;
  };
  const literal = write(
    'pw-literal.yaml',
    'postgres://postgres:pg-s3cr3t@127.0.0.1:5432/test',
    'redis://:rd-s3cr3t@127.0.0.1:6379',
  );
  const text = run('config', 'validate', literal);
  assert.equal(text.code, 0, text.err);
  const warnings = text.err.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 2, text.err);
  assert.match(
    warnings[0],
    /pw-literal\.yaml:3:\d+: storage\.postgresUrl: the URL holds a password written in the config \(`gatehouse check` fails it, item 2\.2: .*\): take it from the environment, `postgresUrl: "\$\{DATABASE_URL\}"`/,
  );
  assert.match(
    warnings[1],
    /pw-literal\.yaml:5:\d+: limits\.redis\.url: the URL holds a password .*`url: "\$\{REDIS_URL\}"`/,
  );
  assert.ok(!`${text.out}${text.err}`.includes('s3cr3t'), 'the password is never echoed');
  const check = run('check', '--json', '-c', literal);
  const item = (
    JSON.parse(check.out) as { items: Array<{ id: string; status: string; why: string; fix: string }> }
  ).items.find((i) => i.id === '2.2');
  assert.equal(item?.status, 'fail', check.err);
  assert.equal(
    item?.why,
    'static credentials in `storage.postgresUrl` (a password in the URL), `limits.redis.url` (a password in the URL)',
  );
  assert.match(item?.fix ?? '', /postgresUrl: "\$\{DATABASE_URL\}"/);
  // References: the whole URL, or the password alone; a URL without a password.
  const referenced = write(
    'pw-referenced.yaml',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own `${VAR}` reference syntax
    '${GATEHOUSE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own `${VAR}` reference syntax
    'redis://:${GATEHOUSE_TEST_REDIS_PW:-x}@127.0.0.1:6379',
  );
  const clean = run('config', 'validate', referenced);
  assert.equal(clean.code, 0, clean.err);
  assert.doesNotMatch(clean.err, /warning/);
  const passed = run('check', '--json', '-c', referenced);
  const ok = (JSON.parse(passed.out) as { items: Array<{ id: string; status: string }> }).items.find(
    (i) => i.id === '2.2',
  );
  assert.equal(ok?.status, 'pass', passed.err);
});

test('a webhook signing key written in the config is warned of at its line and fails check 2.2, never echoed; one from the environment passes (operator walk)', () => {
  const file = join(dir, 'webhook-key.yaml');
  const literal = 'literal-hook-key-0123456789';
  const config = (secret: string) =>
    [
      'version: 1',
      `gateway: { stateDir: ${JSON.stringify(join(dir, 'state-hook'))} }`,
      'servers:',
      '  - name: s',
      '    transport: stdio',
      '    command: x',
      `    contact: { webhook: { url: "https://hooks.example.com/s", secret: ${JSON.stringify(secret)} } }`,
      '',
    ].join('\n');
  writeFileSync(file, config(literal));
  const v = run('config', 'validate', file);
  assert.equal(v.code, 0, v.err);
  assert.match(
    v.err,
    /^warning: .*webhook-key\.yaml:7:\d+: servers\[0\]\.contact\.webhook\.secret: the webhook signing key is written in the config \(`gatehouse check` fails it, item 2\.2/m,
  );
  const checked = run('check', '--json', '-c', file);
  const item = (JSON.parse(checked.out) as { items: Array<{ id: string; status: string; why: string }> }).items.find(
    (i) => i.id === '2.2',
  );
  assert.deepEqual(
    [item?.status, item?.why],
    ['fail', 'static credentials in `servers[0].contact.webhook.secret` (a webhook signing key)'],
  );
  assert.ok(!`${v.out}${v.err}${checked.out}${checked.err}`.includes(literal), 'never echoed');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax under test
  writeFileSync(file, config('${HOOK_KEY}'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOOK_KEY: literal };
  delete env.NODE_TEST_CONTEXT;
  const clean = spawnSync(process.execPath, [CLI, 'config', 'validate', file], { cwd: dir, encoding: 'utf8', env });
  assert.equal(clean.status, 0, clean.stderr);
  assert.doesNotMatch(clean.stderr, /warning/);
});

test('with --json every command prints its failure as JSON, with the same exit status (walk L)', () => {
  const broken = join(dir, 'broken-json.yaml');
  writeFileSync(broken, 'version: 1\nservers:\n  - name: a\n    transport: stdio\n    comand: npx\n');
  const good = join(dir, 'good-json.yaml');
  assert.equal(run('init', good).code, 0);
  const quickstart = join(ROOT, 'examples/quickstart.yaml');
  const cases: Array<{ args: string[]; match: RegExp; issues?: boolean }> = [
    { args: ['check', '--json', '-c', broken], match: /^invalid configuration:/, issues: true },
    { args: ['keys', 'list', '--json', '-c', broken], match: /^invalid configuration:/, issues: true },
    { args: ['check', '--json', '-c', join(dir, 'missing.yaml')], match: /config file `.*missing\.yaml` not found/ },
    { args: ['policy', 'test', join(dir, 'no-such-tests.yaml'), '--json', '-c', quickstart], match: /^cannot read `/ },
    {
      args: ['policy', 'test', join(dir, 'no-such-tests.yaml'), '--json', '-c', good],
      match: /no policy is configured/,
    },
    {
      args: ['keys', 'create', '-n', 'x', '-t', 't', '--json', '-c', broken],
      match: /^invalid configuration:/,
      issues: true,
    },
    { args: ['config', 'validate', broken, '--json'], match: /^invalid configuration:/, issues: true },
    {
      args: ['config', 'validate', join(dir, 'missing.yaml'), '--json'],
      match: /config file `.*missing\.yaml` not found \(create one with `gatehouse init`\)/,
    },
  ];
  for (const c of cases) {
    const r = run(...c.args);
    assert.equal(r.code, 2, `${c.args.join(' ')}: ${r.err}`);
    const body = JSON.parse(r.out) as {
      error: string;
      exitCode: number;
      issues?: Array<{ line: number }>;
      valid?: boolean;
      file?: string;
    };
    assert.match(body.error, c.match, c.args.join(' '));
    assert.equal(body.exitCode, 2);
    if (c.issues) assert.equal(body.issues?.[0]?.line, 5);
    assert.equal(r.err, '', 'nothing else');
    // `config validate` answers whether the file is valid, and names it, in its failures too.
    if (c.args[0] === 'config') assert.deepEqual([body.valid, typeof body.file], [false, 'string']);
  }
  const missing = run('config', 'validate', join(dir, 'missing.yaml'));
  assert.equal(missing.code, 2);
  assert.match(
    missing.err,
    /^gatehouse: config file `.*missing\.yaml` not found \(create one with `gatehouse init`\)\n$/,
  );
  // Without --json, the same failure is a line on stderr.
  const text = run('check', '-c', broken);
  assert.equal(text.code, 2);
  assert.equal(text.out, '');
  assert.match(text.err, /^gatehouse: invalid configuration:/);
});

test('start refuses an invalid config with the reason and exit status 2', () => {
  const file = join(dir, 'bad-start.yaml');
  writeFileSync(file, 'version: 2\nservers: []\n');
  const r = run('start', '--config', file);
  assert.equal(r.code, 2);
  assert.match(r.err, /bad-start\.yaml:1:10: version: must be `1`/);
});

test('start serves; SIGHUP with a broken file keeps the last good config; a fixed file applies', async () => {
  const state = join(dir, 'state-reload');
  const head = `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(state)}\nservers:\n`;
  const g = await startCli(head + everything('one'), dir);
  try {
    const ready = (await (await fetch(`${g.url}/readyz`)).json()) as { upstreams: Record<string, string> };
    assert.deepEqual(Object.keys(ready.upstreams), ['one']);
    writeFileSync(g.file, `${head}  - name: two\n    transport: nope\n`);
    g.child.kill('SIGHUP');
    await g.logged(/configuration reload refused/);
    const still = (await (await fetch(`${g.url}/readyz`)).json()) as { upstreams: Record<string, string> };
    assert.deepEqual(Object.keys(still.upstreams), ['one'], 'the bad reload changed nothing');
    const logged = g.log().length;
    writeFileSync(g.file, head + everything('one') + everything('two'));
    g.child.kill('SIGHUP');
    await g.logged(/configuration reloaded/, logged);
    // One line for the refused reload (the audit record of it is no second log line).
    assert.equal(g.log().match(/configuration reload refused/g)?.length, 1, g.log());
    await eventually(async () => {
      const names = Object.keys(
        ((await (await fetch(`${g.url}/readyz`)).json()) as { upstreams: Record<string, string> }).upstreams,
      );
      assert.deepEqual(names.sort(), ['one', 'two']);
      return true;
    });
  } finally {
    await g.stop();
  }
});

test("a start's routine lines are at debug: a launcher's pipe closed, a server asking for roots before any call (walk L)", async () => {
  const file = join(dir, 'routine.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(join(dir, 'state-routine'))}\nservers:\n${everything('one')}`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_LOG_LEVEL: 'debug' };
  delete env.NODE_TEST_CONTEXT;
  // Descriptor 50 a pipe, not close-on-exec: the plumbing launchers (npm, shells) leave open.
  const stdio = ['ignore', 'pipe', 'pipe', ...Array(47).fill('ignore'), 'pipe'] as const;
  const child = spawn(process.execPath, [CLI, 'start', '--json', '-c', file], { env, stdio: [...stdio] });
  try {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const line = (what: string) => {
      const l = err.split('\n').find((x) => x.includes(what));
      return l ? (JSON.parse(l) as { level: number; method?: string; files?: unknown }) : undefined;
    };
    await eventually(() => line('closed descriptors inherited') && line('no call can be blamed for'), {
      timeoutMs: 20_000,
    });
    assert.equal(line('closed descriptors inherited')?.level, 20, 'a pipe: debug');
    assert.equal(line('closed descriptors inherited')?.files, undefined);
    assert.equal(line('no call can be blamed for')?.method, 'roots/list');
    assert.equal(line('no call can be blamed for')?.level, 20, 'roots asked before any call: debug');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('gatehouse stdio serves a real client over stdin/stdout', async () => {
  const file = join(dir, 'stdio.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  stateDir: ${JSON.stringify(join(dir, 'state-stdio'))}\nservers:\n${everything('everything')}`,
  );
  const env = { ...process.env } as Record<string, string>;
  delete env.NODE_TEST_CONTEXT;
  env.GATEHOUSE_LOG_LEVEL = 'silent';
  const client = new Client({ name: 'stdio-test', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'stdio', '--config', file],
      env,
      stderr: 'ignore',
    }),
  );
  try {
    const { tools } = await client.listTools();
    assert.ok(
      tools.some((x) => x.name === 'everything__echo'),
      tools.map((x) => x.name).join(','),
    );
    const r = await client.callTool({ name: 'everything__echo', arguments: { message: 'over stdio' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: over stdio' }]);
  } finally {
    await client.close();
  }
});

test('start closes what its launcher left open (no server it starts inherits it), and keeps V8 logging into its own file', async () => {
  const secret = join(dir, 'launcher-secret.txt');
  writeFileSync(secret, 'only-the-launcher', { mode: 0o600 });
  const state = join(dir, 'state-fds');
  const file = join(dir, 'fds.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(state)}\nservers:\n${everything('one')}`,
  );
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const fd = openSync(secret, 'r');
  // Descriptor 50 of the gateway, not close-on-exec: what a launcher (flock, a supervisor) may leave
  // open (node itself marks the lowest ones close-on-exec).
  const stdio = ['ignore', 'pipe', 'pipe', ...Array(47).fill('ignore'), fd] as const;
  // Run under V8's profiler, as an operator may: the file V8 logs into is not close-on-exec either,
  // and is not the launcher's. Closing it once let the store open on its number, and V8's lines went
  // into the database.
  const v8log = join(dir, 'v8-%p.log');
  const profile = ['--prof', `--logfile=${v8log}`, '--no-logfile-per-isolate'];
  const child = spawn(process.execPath, [...profile, CLI, 'start', '--json', '-c', file], { env, stdio: [...stdio] });
  closeSync(fd);
  try {
    let err = '';
    let out = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await eventually(() => /closed descriptors inherited from the launcher/.test(err), { timeoutMs: 20_000 });
    // A file left open is worth the operator's line (at info), naming it.
    const line = err.split('\n').find((l) => l.includes('closed descriptors inherited'));
    assert.equal(JSON.parse(line ?? '{}').level, 30, line);
    assert.ok((JSON.parse(line ?? '{}') as { files?: string[] }).files?.includes(secret), line);
    // Started (its server may run before: src/upstream/early-start.ts), so it records its start before it is stopped.
    await eventually(() => out.includes('"url"'), { timeoutMs: 20_000 });
    const open = (pid: number) =>
      readdirSync(`/proc/${pid}/fd`).flatMap((n) => {
        try {
          return [readlinkSync(`/proc/${pid}/fd/${n}`)];
        } catch {
          return [];
        }
      });
    assert.ok(!open(child.pid!).includes(secret), 'the gateway let it go');
    // The server it started (a child of the gateway) has never had it either.
    const kidsOf = () =>
      readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    await eventually(() => kidsOf().length > 0, { timeoutMs: 20_000 });
    const kids = kidsOf();
    for (const k of kids) assert.ok(!open(Number(k)).includes(secret), `server process ${k}`);
    assert.ok(open(child.pid!).includes(v8log.replace('%p', String(child.pid))), 'V8 still logs into its own file');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  const db = new Sqlite(join(state, 'gatehouse.db'), { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.ok((db.prepare('select count(*) as n from audit_events').get() as { n: number }).n > 0);
  } finally {
    db.close();
  }
});
