import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forLegacyCaller, GatehouseError, UpstreamRpcError } from './errors.ts';

test('a 2025-11-25 caller never receives a 2026-07-28-only code', () => {
  const missing = forLegacyCaller(
    new UpstreamRpcError(-32021, 'missing required client capability', { requiredCapabilities: { sampling: {} } }),
  );
  assert.ok(missing instanceof UpstreamRpcError);
  assert.equal(missing.rpcCode, -32600);
  assert.deepEqual(missing.data, { requiredCapabilities: { sampling: {} } }, 'the capability is still named');
  const ours = forLegacyCaller(
    new GatehouseError('E_MISSING_CAPABILITY', 'missing required client capability: `sampling`', {
      requiredCapabilities: { sampling: {} },
    }),
  );
  assert.ok(ours instanceof UpstreamRpcError && ours.rpcCode === -32600);
  for (const code of [-32020, -32022]) {
    const e = forLegacyCaller(new UpstreamRpcError(code, 'x'));
    assert.ok(e instanceof GatehouseError && e.rpc === -32603, `${code} is the gateway's failure`);
  }
  const plain = new UpstreamRpcError(-32602, 'unknown tool');
  assert.equal(forLegacyCaller(plain), plain, 'other errors pass as they are');
});
