import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { ListChangedGate } from './list-changed-gate.ts';

const change = (kind: string): JsonRpcMessage => ({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });

test('a list change is heard once the client is initialized and has listed that kind; everything else at once', () => {
  const gate = new ListChangedGate();
  const sent: JsonRpcMessage[] = [];
  const sink = gate.sink({ send: (m) => void sent.push(m), closed: false, close: () => {} });
  const progress: JsonRpcMessage = {
    jsonrpc: '2.0',
    method: 'notifications/progress',
    params: { progressToken: 1, progress: 1 },
  };
  sink.send(progress);
  sink.send({ jsonrpc: '2.0', id: 1, result: {} });
  gate.asked('tools/list');
  sink.send(change('tools'));
  assert.deepEqual(sent.length, 2, 'listed, but not initialized yet');
  gate.initialized();
  sink.send(change('tools'));
  sink.send(change('prompts'));
  sink.send(change('resources'));
  gate.asked('resources/templates/list');
  sink.send(change('resources'));
  assert.deepEqual(
    sent.slice(2).map((m) => ('method' in m ? m.method : '')),
    ['notifications/tools/list_changed', 'notifications/resources/list_changed'],
  );
  assert.equal(sink.closed, false);
});
