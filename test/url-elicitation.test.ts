/**
 * URL-mode elicitation (an upstream sending its user to a sign-in page) relayed by a gateway with two
 * tenants and `secrets.results: redact`, from a real 2025-11-25 server (SDK v1) to real SDK v1 and v2
 * clients:
 * - `notifications/elicitation/complete` reaches the legacy session that was asked that elicitation,
 *   on its GET stream after the call or however the server says it, and no other session: not another
 *   of its tenant's, not the other tenant's, which was asked the very same id by its own connection.
 *   Before, the gateway dropped every such notification.
 * - A -32042 error (URLElicitationRequiredError) carries its sign-in link with the token-shaped string
 *   intact and the gateway's credential removed, its message redacted; before, the link's token was
 *   redacted too and the link was useless. The completion then reaches the caller, and its retry runs.
 * - A 2026-07-28 caller, which has no -32042, is asked the same link in an `input_required` and its
 *   retry runs the call again; before, it got the 2025-only error (link redacted).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { createKey, startGateway, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';
import { getStreamWatch, postModernCall, replyOf } from './support/rpc.ts';
import { LEAKED } from './fixtures/upstreams/hostile-input-http.ts';
import { type SigningInServer, signingIn } from './fixtures/upstreams/signing-in-http.ts';

/** The credential the gateway sends the upstream (header x-api-key), which it puts in its links. */
const KNOWN = 'signin-credential-3b8e1f6a2d';
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-url-elicitation-'));
const keys: Record<string, string> = {};
let t: TestGateway;
let up: SigningInServer;

before(async () => {
  up = await signingIn();
  const policy = join(tmp, 'policy.yaml');
  writeFileSync(
    policy,
    "rules:\n  - { id: both, subjects: { tenants: [acme, globex] }, tools: ['signin__*'], effect: allow }\n",
  );
  t = await startGateway(
    `  - name: signin\n    transport: http\n    url: ${JSON.stringify(up.url)}\n` +
      '    credentials: { headers: { x-api-key: "local:signin-key" } }\n' +
      '    tools: { sign_in: { class: READ }, gated: { class: READ } }\n',
    {
      top:
        `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\n` +
        'inventory: { newTools: accept }\nsecrets: { results: redact }\n',
      before: async (stateDir) => (await localSecrets(stateDir)).set('signin-key', KNOWN),
    },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
  await up?.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Legacy {
  c: V1Client;
  /** The URL elicitations it was asked (it accepts each). */
  asked: Array<Record<string, unknown>>;
  /** The elicitation ids it was told completed. */
  completed: string[];
}

/** A legacy SDK client of `tenant` that declared URL elicitation, once its GET stream is open. */
async function legacy(tenant: string): Promise<Legacy> {
  const l: Legacy = {
    c: new V1Client({ name: `legacy-${tenant}`, version: '1' }, { capabilities: { elicitation: { url: {} } } }),
    asked: [],
    completed: [],
  };
  l.c.setRequestHandler(ElicitRequestSchema, async (r) => {
    l.asked.push(r.params);
    return { action: 'accept' };
  });
  l.c.setNotificationHandler(
    ElicitationCompleteNotificationSchema,
    (n) => void l.completed.push(n.params.elicitationId),
  );
  const watch = getStreamWatch();
  await l.c.connect(
    new V1Transport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys[tenant]}` } },
      fetch: watch.fetch,
    }),
  );
  await watch.opened;
  return l;
}

const text = (r: Awaited<ReturnType<V1Client['callTool']>>) => (r.content as Array<{ text: string }>)[0].text;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `l` signs in as `account` (sign_in): the id it was asked, after checking the tool got its answer. */
async function signIn(l: Legacy, account: string, now = false): Promise<string> {
  const done = JSON.parse(text(await l.c.callTool({ name: 'signin__sign_in', arguments: { account, now } }))) as {
    answer: unknown;
    id: string;
  };
  assert.deepEqual(done.answer, { action: 'accept' });
  assert.equal(l.asked.at(-1)?.elicitationId, done.id, 'the caller is shown the upstream id');
  return done.id;
}

test('a completion reaches the legacy session asked, and no other: not one of its tenant, not the other tenant asked the same id', async () => {
  const [ada, other, gus] = [await legacy('acme'), await legacy('acme'), await legacy('globex')];
  try {
    const adaId = await signIn(ada, 'ada');
    const gusId = await signIn(gus, 'gus');
    assert.equal(adaId, gusId, "each tenant's connection is its own upstream session, counting ids alike");

    await up.complete('ada'); // on acme's connection, after the call, on the upstream's GET stream
    await eventually(() => ada.completed.length > 0, { timeoutMs: 10_000 });
    await pause(300); // what others would be told has had its time
    assert.deepEqual(ada.completed, [adaId]);
    assert.deepEqual(other.completed, [], 'another session of the tenant was told');
    assert.deepEqual(gus.completed, [], 'the other tenant, asked the same id on its own connection, was told');

    await up.complete('ada', adaId); // said again: already completed, told to nobody
    await up.complete('gus');
    await eventually(() => gus.completed.length > 0, { timeoutMs: 10_000 });
    await pause(300);
    assert.deepEqual(gus.completed, [gusId]);
    assert.deepEqual(ada.completed, [adaId]);
    assert.deepEqual(other.completed, []);
  } finally {
    await Promise.all([ada, other, gus].map((l) => l.c.close()));
  }
});

test("a completion said on the call's own stream reaches the session asked too", async () => {
  const [ann, other] = [await legacy('acme'), await legacy('acme')];
  try {
    const id = await signIn(ann, 'ann', true);
    await eventually(() => ann.completed.includes(id), { timeoutMs: 10_000 });
    await pause(300);
    assert.deepEqual(other.completed, []);
  } finally {
    await Promise.all([ann, other].map((l) => l.c.close()));
  }
});

const LINK = (account: string) =>
  `https://auth.example.test/connect?token=${LEAKED.github}&s=[REDACTED:credential]&account=${account}`;
const MESSAGE = (account: string) =>
  `Sign in as ${account}: token [REDACTED:github-token] credential [REDACTED:credential]`;

test('a -32042 error: its link arrives with its token and without the credential, its message redacted; the completion reaches the caller and the retry runs', async () => {
  const amy = await legacy('acme');
  try {
    const err = await amy.c.callTool({ name: 'signin__gated', arguments: { account: 'amy' } }).then(
      () => assert.fail('the call was not refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof McpError, String(err));
    assert.equal(err.code, -32042);
    assert.ok(!err.message.includes(LEAKED.github) && !err.message.includes(KNOWN), err.message);
    assert.match(err.message, /\[REDACTED:github-token\] credential \[REDACTED:credential\]/);
    const [link] = (err.data as { elicitations: Array<Record<string, unknown>> }).elicitations;
    assert.deepEqual(link, {
      mode: 'url',
      elicitationId: link.elicitationId,
      url: LINK('amy'),
      message: MESSAGE('amy'),
    });
    assert.match(String(link.elicitationId), /^sign-in-\d+$/);

    await up.complete('amy');
    await eventually(() => amy.completed.includes(String(link.elicitationId)), { timeoutMs: 10_000 });
    assert.equal(
      text(await amy.c.callTool({ name: 'signin__gated', arguments: { account: 'amy' } })),
      'signed in as amy',
    );
  } finally {
    await amy.c.close();
  }
});

test('a -32042 error for a 2026-07-28 caller: the link asked in an input_required (token intact, credential removed), and the retry runs', async () => {
  const asked: Array<Record<string, unknown>> = [];
  const c = new V2Client(
    { name: 'modern', version: '2' },
    { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: 'auto' } },
  );
  c.setRequestHandler('elicitation/create', async (r) => {
    asked.push(r.params as Record<string, unknown>);
    await up.complete('mia'); // the user went to the link
    return { action: 'accept' };
  });
  await c.connect(
    new V2Transport(new URL(`${t.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${keys.acme}` } } }),
  );
  try {
    assert.equal(c.getProtocolEra(), 'modern');
    const r = await c.callTool({ name: 'signin__gated', arguments: { account: 'mia' } });
    assert.equal((r.content as Array<{ text: string }>)[0].text, 'signed in as mia');
    assert.equal(asked.length, 1, JSON.stringify(asked));
    assert.equal(asked[0].mode, 'url');
    assert.equal(asked[0].url, LINK('mia'));
    assert.equal(asked[0].message, MESSAGE('mia'));
    // The call, then its retry, each as the call itself: no round-trip fields reach a 2025-11-25 server.
    const sent = up.calls.filter((p) => (p.arguments as { account?: string })?.account === 'mia');
    assert.equal(sent.length, 2, JSON.stringify(sent));
    for (const p of sent) assert.ok(!('inputResponses' in p) && !('requestState' in p), JSON.stringify(p));
  } finally {
    await c.close();
  }
});

test('a 2026-07-28 caller that did not declare URL elicitation is told it is missing (-32021), not sent a 2025-only error', async () => {
  const r = await replyOf(
    await postModernCall(t.url, 'signin__gated', { account: 'max' }, { token: keys.acme, capabilities: {} }),
  );
  assert.equal(r.error?.code, -32021, JSON.stringify(r));
  assert.deepEqual(r.error.data, { requiredCapabilities: { elicitation: { url: {} } } });
});
