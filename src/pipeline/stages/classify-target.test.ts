import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Inventory } from '../../inventory/inventory.ts';
import type { Route } from '../types.ts';
import { classifyTarget } from './classify-target.ts';
import { deps, state } from './fakes.test-util.ts';

const route = (over: Partial<Route> = {}): Route => ({
  server: 'mt',
  tool: 'write_file',
  def: {},
  qualified: 'mt__write_file',
  item: 'write_file',
  ...over,
});

/** An inventory that answers from a table and notes what it was asked. */
function inventory(tools: Record<string, object>, items: Record<string, object> = {}) {
  const asked: string[] = [];
  const inv: Partial<Inventory> = {
    tool: (server, tool) => {
      asked.push(`tool ${server} ${tool}`);
      return {
        pin: '',
        quarantine: 'not in the inventory',
        class: 'DESTRUCTIVE',
        reviewed: false,
        shown: {},
        serverQuarantine: null,
        ...tools[`${server}/${tool}`],
      } as never;
    },
    item: (server, item) => {
      asked.push(`item ${server} ${item}`);
      return { pin: '', quarantine: null, serverQuarantine: null, ...items[`${server}/${item}`] } as never;
    },
  };
  return { inventory: inv as Inventory, asked };
}

test("a tool takes the operator's class, its pin and quarantine from the inventory, looked up by the upstream's own name", async () => {
  const { inventory: inv, asked } = inventory({
    'mt/write_file': { class: 'WRITE', pin: 'sha256:aa', quarantine: null },
  });
  const s = state({ requested: 'mt__write_file' });
  s.route = route();
  await classifyTarget(s, deps({ inventory: inv }));
  assert.deepEqual([s.toolClass, s.toolPin, s.quarantine], ['WRITE', 'sha256:aa', null]);
  assert.deepEqual(asked, ['tool mt write_file']);
});

test("an unreviewed tool is DESTRUCTIVE and quarantined; a server's quarantine wins over its tool's standing", async () => {
  const unknown = inventory({});
  const s = state();
  s.route = route({ tool: 'new_tool', qualified: 'mt__new_tool', item: 'new_tool' });
  await classifyTarget(s, deps({ inventory: unknown.inventory }));
  assert.deepEqual([s.toolClass, s.quarantine], ['DESTRUCTIVE', 'not in the inventory']);
  const server = inventory({
    'mt/write_file': { class: 'READ', pin: 'p', quarantine: null, serverQuarantine: 'instructions changed' },
  });
  const t = state();
  t.route = route();
  await classifyTarget(t, deps({ inventory: server.inventory }));
  assert.equal(t.quarantine, 'instructions changed');
});

test("prompts and resources only read: class READ, pin and quarantine of their inventory item (a server's quarantine wins)", async () => {
  const { inventory: inv, asked } = inventory(
    {},
    {
      'mt/prompt:evil': { pin: 'sha256:bb', quarantine: 'failed the poisoning scan' },
      'mt/resource:secret://token': { pin: 'sha256:cc', quarantine: null, serverQuarantine: 'new server' },
    },
  );
  const p = state({ method: 'prompts/get', kind: 'prompt', requested: 'mt__evil' });
  p.route = route({ tool: 'evil', qualified: 'mt__evil', item: 'prompt:evil' });
  await classifyTarget(p, deps({ inventory: inv }));
  assert.deepEqual([p.toolClass, p.toolPin, p.quarantine], ['READ', 'sha256:bb', 'failed the poisoning scan']);
  const r = state({ method: 'resources/read', kind: 'resource', requested: 'gatehouse:mt/secret://token' });
  r.route = route({
    tool: 'secret://token',
    qualified: 'gatehouse:mt/secret://token',
    item: 'resource:secret://token',
  });
  await classifyTarget(r, deps({ inventory: inv }));
  assert.deepEqual([r.toolClass, r.toolPin, r.quarantine], ['READ', 'sha256:cc', 'new server']);
  // A URI the server did not list: only its server's standing applies (the empty item).
  const u = state({ method: 'resources/read', kind: 'resource', requested: 'gatehouse:mt/other://x' });
  u.route = route({ tool: 'other://x', qualified: 'gatehouse:mt/other://x', item: '' });
  await classifyTarget(u, deps({ inventory: inv }));
  assert.deepEqual([u.toolClass, u.quarantine], ['READ', null]);
  assert.deepEqual(asked, ['item mt prompt:evil', 'item mt resource:secret://token', 'item mt ']);
});
