import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretScrubber } from '../credentials/scrub.ts';
import { callerCancelled, cancelReasonOf, withheldCancelReason } from './cancel-reason.ts';

const scrubber = new SecretScrubber();
scrubber.update(['s3cret-value-of-globex']);
const told = (reason: unknown) => cancelReasonOf(callerCancelled(reason, scrubber));
const GENERIC = 'cancelled by the client';

test('a short plain reason is passed on; anything else is the generic text', () => {
  assert.equal(told('user stop'), 'user stop');
  assert.equal(told('a\r\nb\u0007c\u200bd\u202e'), 'a b c d');
  for (const bad of [undefined, 42, { a: 1 }, '', '\u0000\n', 'x'.repeat(201), 'y'.repeat(10_000)])
    assert.equal(told(bad), GENERIC, String(bad).slice(0, 20));
  assert.equal(told('z'.repeat(200)), 'z'.repeat(200));
});

test('a reason carrying a credential is not passed on at all: an injected value, a GitHub token, an AWS key, split by a format mark', () => {
  const ghp = `ghp_${'Q1w2E3r4T5'.repeat(4)}`.slice(0, 40);
  for (const [reason, kind] of [
    ['stop, token s3cret-value-of-globex', 'injected credential'],
    [`stop, here: ${Buffer.from('s3cret-value-of-globex').toString('base64')}`, 'injected credential'],
    [`token ${ghp}`, 'github'],
    ['aws AKIAIOSFODNN7EXAMPLE', 'aws'],
    [`token ${ghp.slice(0, 12)}\u200b${ghp.slice(12)}`, 'github'],
  ]) {
    const c = callerCancelled(reason, scrubber);
    assert.equal(cancelReasonOf(c), GENERIC, reason);
    const why = withheldCancelReason(c);
    assert.ok(why?.includes(kind), `${reason}: ${why}`);
    assert.ok(!why?.includes('s3cret') && !why?.includes(ghp) && !why?.includes('AKIA'), why);
  }
  assert.equal(withheldCancelReason(callerCancelled('user stop', scrubber)), undefined);
});

test('an abort for any other cause (the connection closed, a timeout) tells the generic text', () => {
  assert.equal(cancelReasonOf(new DOMException('aborted', 'AbortError')), GENERIC);
  assert.equal(cancelReasonOf(undefined), GENERIC);
  assert.equal(withheldCancelReason(new DOMException('aborted', 'AbortError')), undefined);
  assert.equal(callerCancelled('why', scrubber).name, 'AbortError');
});
