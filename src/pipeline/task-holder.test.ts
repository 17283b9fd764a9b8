import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TaskHandles, type ElsewhereTask } from '../gateway/tasks.ts';
import { SecretScrubber } from '../credentials/scrub.ts';
import { UpstreamRpcError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { executeRequest } from './stages/execute-request.ts';
import { redactResult, scrubErrorForCaller } from './stages/redact-result.ts';
import { routeTask } from './stages/route-task.ts';
import { catalogOf, deps, fakeUpstream, principal, state, thrown } from './stages/fakes.test-util.ts';

const SECRET = 'tenant-token-7f3a9c1e5b';
const HERE = 'a'.repeat(16);
const THERE = 'b'.repeat(16);
const alice = principal();

/** Replica HERE's pipeline deps, and a handle for alice's task held by replica THERE. */
async function setup(answer: (r: ElsewhereTask) => Promise<JsonObject>) {
  const key = randomBytes(32);
  const { catalog, upstreams } = await catalogOf({ mt: { tools: [{ name: 'slow' }] } });
  const tasks = new TaskHandles(key, HERE);
  const asked: Array<{ to: string; r: ElsewhereTask }> = [];
  tasks.elsewhere = async (to, r) => {
    asked.push({ to, r });
    return answer(r);
  };
  const configOf = (name: string) => ({ name, transport: 'stdio', command: 'x' });
  const d = deps({
    catalog,
    upstreams,
    tasks,
    holds: {} as never,
    credentials: { scrubber: new SecretScrubber(), configOf } as never,
  });
  const handle = new TaskHandles(key, THERE).seal({ server: 'mt', tool: 'mt__slow', taskId: 'u-7' }, alice, '');
  return { d, tasks, asked, handle };
}

/** A tasks/* request as route left it, on this replica's connection (set by connect). */
async function routed(d: ReturnType<typeof deps>, method: string, handle: string) {
  const s = state({ method, kind: 'tool', requested: handle, params: { taskId: handle }, ctx: { principal: alice } });
  await routeTask(s, d);
  const up = fakeUpstream();
  Object.assign(up, { cfg: { timeouts: { maxTotalMs: 12_345 } } });
  s.up = up;
  s.injected = [SECRET];
  return { s, up };
}

test("a task held by another replica is asked there, not of this replica's connection; the answer is sealed again naming the holder", async () => {
  const { d, tasks, asked, handle } = await setup(async () => ({ taskId: 'u-7', status: 'working' }));
  const { s, up } = await routed(d, 'tasks/get', handle);
  assert.equal(s.route!.holder, THERE);
  await executeRequest(s, d);
  assert.deepEqual(up.sent, [], "this replica's connection was asked nothing");
  assert.deepEqual(asked, [
    {
      to: THERE,
      r: {
        handle,
        method: 'tasks/get',
        params: {},
        principal: alice.key,
        tenant: alice.tenant,
        subject: alice.subject,
        scope: '',
        era: 'legacy',
        waitMs: 12_345,
      },
    },
  ]);
  const back = String(s.result!.taskId);
  assert.notEqual(back, 'u-7');
  assert.deepEqual(tasks.open(back, alice, ''), { server: 'mt', tool: 'mt__slow', taskId: 'u-7', replica: THERE });
});

test("the holder's answer passes this replica's redact stage: the tenant's injected secrets are removed", async () => {
  const { d, asked, handle } = await setup(async () => ({
    content: [{ type: 'text', text: `done with ${SECRET}` }],
  }));
  const { s } = await routed(d, 'tasks/result', handle);
  await executeRequest(s, d);
  redactResult(s, d);
  assert.equal(asked.length, 1, 'answered by the holder');
  assert.match(JSON.stringify(s.result), /done with/);
  assert.ok(!JSON.stringify(s.result).includes(SECRET), JSON.stringify(s.result));
});

test("the holder's upstream error comes here as the upstream's, which the pipeline scrubs as a local one's", async () => {
  const { d, handle } = await setup(async () => {
    throw new UpstreamRpcError(-32602, `no task (token ${SECRET})`);
  });
  const { s } = await routed(d, 'tasks/get', handle);
  const err = await thrown(() => executeRequest(s, d));
  // runRequest scrubs an UpstreamRpcError with this very function (src/pipeline/index.ts).
  assert.ok(err instanceof UpstreamRpcError, String(err));
  const scrubbed = scrubErrorForCaller(s, d)(err);
  assert.equal(scrubbed.rpcCode, -32602);
  assert.ok(!scrubbed.message.includes(SECRET), scrubbed.message);
});
