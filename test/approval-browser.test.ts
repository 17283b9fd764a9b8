/**
 * The approval page in a real browser (Debian's Chromium driven by playwright-core): a WRITE call
 * waits; an approver opens the page (identified by the bearer credential an SSO proxy would add),
 * reads the action, the exact tool and the diff, and clicks Approve — no JavaScript needed; the call
 * then runs exactly once. A denied call never runs. UPDATE_SCREENSHOTS=1 refreshes docs/approvals/*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { FILESYSTEM, ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { URL_ELICITATION, firstInputRequest, postModernCall, replyOf, type Reply } from './support/rpc.ts';
import { haveBrowser, launchChromium } from './support/browser.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-browser-'));
const sandbox = join(tmp, 'sandbox');
let t: TestGateway;
let browser: Browser | undefined;
const keys: Record<string, string> = {};

before(async () => {
  mkdirSync(sandbox);
  writeFileSync(join(sandbox, 'notes.txt'), 'alpha\nbeta\ngamma\n');
  writeFileSync(
    join(tmp, 'policy.yaml'),
    'rules:\n  - id: reads\n    tools: ["files__*"]\n    classes: [READ]\n    effect: allow\n  - id: writes-need-a-lead\n    tools: [files__write_file]\n    effect: approve\n    approvers: { roles: [lead] }\n',
  );
  t = await startGateway(
    stdioServer('files', FILESYSTEM, [sandbox]) +
      '    tools: { write_file: { class: WRITE }, read_text_file: { class: READ } }\n',
    {
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(tmp, 'policy.yaml'))}] }\napprovals:\n  templates: { files__write_file: "Overwrite {path}" }\n  readTools: { files__write_file: files__read_text_file }\n`,
    },
  );
  for (const [name, roles] of [
    ['agent', 'agent'],
    ['lead', 'lead'],
  ])
    keys[name] = await createKey(t.file, { name, tenant: 'acme', person: name, roles, scopes: 'x' });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function write(content: string, extra: Record<string, unknown> = {}): Promise<Reply> {
  const args = { path: join(sandbox, 'notes.txt'), content };
  return replyOf(
    await postModernCall(t.url, 'files__write_file', args, {
      token: keys.agent,
      capabilities: URL_ELICITATION,
      extra,
    }),
  );
}

async function page(url: string) {
  const ctx = await browser!.newContext({
    extraHTTPHeaders: { authorization: `Bearer ${keys.lead}` },
    viewport: { width: 390, height: 844 },
    javaScriptEnabled: false,
  });
  const p = await ctx.newPage();
  await p.goto(url);
  return { p, ctx };
}

test('approved in a real browser: the page shows the action and the diff; Approve works without JavaScript; the write runs once', async (tc) => {
  if (!haveBrowser(browser, tc)) return;
  const first = await write('alpha\nBETA\ngamma\n');
  const elicitation = firstInputRequest(first).params;
  assert.equal(readFileSync(join(sandbox, 'notes.txt'), 'utf8'), 'alpha\nbeta\ngamma\n', 'nothing written yet');
  const { p, ctx } = await page(elicitation.url);
  const text = await p.textContent('body');
  assert.match(text!, /Overwrite .*notes\.txt/);
  assert.match(text!, /files__write_file/);
  assert.match(text!, /-beta/);
  assert.match(text!, /\+BETA/);
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(join(ROOT, 'docs/approvals'), { recursive: true });
    await p.screenshot({ path: join(ROOT, 'docs/approvals/approval-page.png'), fullPage: true });
  }
  await p.fill('#reason-approve', 'checked the diff');
  await Promise.all([p.waitForLoadState(), p.click('form.decide-approve button')]);
  assert.match((await p.textContent('body'))!, /Recorded: approved by lead/);
  if (process.env.UPDATE_SCREENSHOTS === '1')
    await p.screenshot({ path: join(ROOT, 'docs/approvals/approved.png'), fullPage: true });
  await ctx.close();
  const retry = await write('alpha\nBETA\ngamma\n', { requestState: first.result.requestState });
  assert.equal(retry.result.resultType, 'complete', JSON.stringify(retry));
  assert.equal(readFileSync(join(sandbox, 'notes.txt'), 'utf8'), 'alpha\nBETA\ngamma\n');
  const again = await write('alpha\nBETA\ngamma\n', { requestState: first.result.requestState });
  assert.ok(again.error, 'and only once');
});

test('denied in a real browser: the write never runs', async (tc) => {
  if (!haveBrowser(browser, tc)) return;
  const first = await write('DESTROYED\n');
  const { p, ctx } = await page(firstInputRequest(first).params.url);
  await Promise.all([p.waitForLoadState(), p.click('form.decide-deny button')]);
  assert.match((await p.textContent('body'))!, /Recorded: denied/);
  await ctx.close();
  assert.ok((await write('DESTROYED\n', { requestState: first.result.requestState })).error);
  assert.equal(readFileSync(join(sandbox, 'notes.txt'), 'utf8'), 'alpha\nBETA\ngamma\n');
});

test('look-alikes in a real browser: a Cyrillic letter in the path is shown with its code point and a notice; blank runs are counted; other-language text stays readable (walk S, F2)', async (tc) => {
  if (!haveBrowser(browser, tc)) return;
  const path = join(sandbox, 'dаta.txt'); // U+0430, not an ASCII a
  const content = `Привет, мир\n${'\u3000'.repeat(40)}\nend\n`;
  const first = await replyOf(
    await postModernCall(
      t.url,
      'files__write_file',
      { path, content },
      { token: keys.agent, capabilities: URL_ELICITATION },
    ),
  );
  assert.ok(first.result, JSON.stringify(first));
  const { p, ctx } = await page(firstInputRequest(first).params.url);
  const text = (await p.textContent('body'))!;
  assert.equal(
    (await p.locator('p.lookalike').textContent())?.trim(),
    'The `path` contains characters outside ASCII: look-alikes possible (each is shown with its code point).',
  );
  assert.match((await p.locator('section.receipt h2').textContent())!, /^New file .*\/dа⟨U\+0430⟩ta\.txt$/);
  // The heading, the plain-language action, marks it as the fields do.
  assert.match((await p.locator('h1.summary').textContent())!, /\/dа⟨U\+0430⟩ta\.txt/);
  assert.ok(text.includes('+Привет, мир'), 'a line in another script stays readable');
  assert.ok(text.includes('+⟨U+3000 ×40⟩'), 'a blank run is counted');
  // The CLI shows the same request so too.
  const id = decodeURIComponent(new URL(firstInputRequest(first).params.url).pathname.split('/').at(-1)!);
  const shown = await runCli(['approvals', 'show', id, '-c', t.file]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /^Overwrite .*\/dа⟨U\+0430⟩ta\.txt$/m, 'the summary shows the look-alike too');
  assert.ok(shown.stdout.includes('dа⟨U+0430⟩ta.txt'), shown.stdout);
  assert.ok(shown.stdout.includes('"content": "Привет, мир\\n⟨U+3000 ×40⟩\\nend\\n"'), shown.stdout);
  assert.match(shown.stdout, /warning: The `path` contains characters outside ASCII: look-alikes possible/);
  await Promise.all([p.waitForLoadState(), p.click('form.decide-deny button')]);
  await ctx.close();
});
