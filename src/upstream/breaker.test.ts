import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type CircuitChange } from './breaker.ts';

function clocked(opts = {}) {
  let now = 1_000_000;
  const b = new CircuitBreaker(
    {
      failures: 3,
      errorRate: 0.5,
      minRequests: 10,
      windowMs: 10_000,
      cooldownMs: 1_000,
      maxCooldownMs: 4_000,
      ...opts,
    },
    () => now,
  );
  const changes: CircuitChange[] = [];
  b.on('change', (c) => changes.push(c));
  return { b, changes, tick: (ms: number) => (now += ms) };
}

test('consecutive failures open the circuit; an open circuit refuses at once', () => {
  const { b, changes } = clocked();
  for (let i = 0; i < 2; i++) b.failure(b.admit()!);
  assert.equal(b.state, 'closed');
  b.success(b.admit()!);
  for (let i = 0; i < 3; i++) b.failure(b.admit()!, 'timed out');
  assert.equal(b.state, 'open');
  assert.equal(b.admit(), undefined);
  assert.equal(changes.length, 1);
  assert.deepEqual([changes[0].from, changes[0].to], ['closed', 'open']);
  assert.match(changes[0].reason, /3 consecutive failures \(last: timed out\)/);
});

test('the error rate over the window opens it too, once enough requests were seen', () => {
  const { b } = clocked({ failures: 100 });
  for (let i = 0; i < 4; i++) {
    b.success(b.admit()!);
    b.failure(b.admit()!);
  }
  assert.equal(b.state, 'closed', 'eight requests: below minRequests');
  b.success(b.admit()!);
  b.failure(b.admit()!);
  assert.equal(b.state, 'open', '5 of 10 failed');
});

test('old outcomes leave the window', () => {
  const { b, tick } = clocked({ failures: 100 });
  for (let i = 0; i < 9; i++) b.failure(b.admit()!);
  tick(11_000);
  b.failure(b.admit()!);
  assert.equal(b.state, 'closed');
  assert.deepEqual(b.snapshot().window, { ok: 0, failed: 1 });
});

test('after the cooldown one probe goes; its success closes the circuit', () => {
  const { b, changes, tick } = clocked();
  for (let i = 0; i < 3; i++) b.failure(b.admit()!);
  tick(999);
  assert.equal(b.admit(), undefined);
  tick(1);
  assert.equal(b.state, 'half-open');
  const probe = b.admit()!;
  assert.equal(probe.probe, true);
  assert.equal(b.admit(), undefined, 'one probe at a time');
  b.success(probe);
  assert.equal(b.state, 'closed');
  assert.deepEqual(
    changes.map((c) => c.to),
    ['open', 'half-open', 'closed'],
  );
});

test('a failed probe opens it again with the cooldown doubled, up to the maximum', () => {
  const { b, tick } = clocked();
  for (let i = 0; i < 3; i++) b.failure(b.admit()!);
  for (const cooldown of [2_000, 4_000, 4_000]) {
    tick(10_000);
    b.failure(b.admit()!);
    assert.equal(b.state, 'open');
    tick(cooldown - 1);
    assert.equal(b.admit(), undefined);
    tick(1);
    assert.equal(b.state, 'half-open');
  }
  b.success(b.admit()!);
  for (let i = 0; i < 3; i++) b.failure(b.admit()!);
  tick(1_000);
  assert.equal(b.state, 'half-open', 'a success resets the cooldown');
});

test('a cancelled probe frees the slot without counting', () => {
  const { b, tick } = clocked();
  for (let i = 0; i < 3; i++) b.failure(b.admit()!);
  tick(1_000);
  const p = b.admit()!;
  b.release(p);
  assert.equal(b.admit()?.probe, true);
});

test('failures of requests admitted before the circuit opened do not reopen it or extend it', () => {
  const { b, changes } = clocked();
  const early = [b.admit()!, b.admit()!, b.admit()!, b.admit()!];
  for (const t of early) b.failure(t);
  assert.equal(changes.length, 1);
});
