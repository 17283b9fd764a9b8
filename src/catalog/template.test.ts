import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TEMPLATE_CHARS, MAX_TEMPLATE_EXPRESSIONS, MAX_URI_CHARS, templateMatcher } from './template.ts';
import { withLoopDelay } from '../../test/support/loop-delay.ts';

test('templates match whole URIs as RFC 6570 expressions read', () => {
  assert.ok(templateMatcher('demo://resource/{id}').test('demo://resource/42'));
  assert.ok(!templateMatcher('demo://resource/{id}').test('demo://resource/42/more'));
  assert.ok(templateMatcher('file://{+path}').test('file:///a/b/c'));
  assert.ok(!templateMatcher('demo://a.{x}').test('demo://abx'), 'literal dots are literal');
  assert.ok(templateMatcher('q://x{?a,b}').test('q://x?a=1&b=2'));
  assert.ok(!templateMatcher('q://(x){id}').test('q://x1'), 'regex syntax in the template is literal');
  assert.ok(templateMatcher('q://(x){id}').test('q://(x)1'));
  assert.equal(templateMatcher('demo://{id}').problem, undefined);
});

test('a hostile URI against a template with many expressions does not block the event loop', async () => {
  const m = templateMatcher(`demo://${'{+a}x'.repeat(MAX_TEMPLATE_EXPRESSIONS)}y`);
  const near = `demo://${'x'.repeat(MAX_URI_CHARS - 8)}`;
  const { value, maxDelayMs } = await withLoopDelay(() => [
    m.test(near),
    m.test(`demo://${'x/'.repeat(30_000)}`),
    templateMatcher('demo://{+a}/{+b}/{+c}/{+d}').test(`demo://${'/'.repeat(60_000)}`),
  ]);
  assert.deepEqual(value, [false, false, false]);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
});

test('sizes are bounded: oversized templates never match, oversized URIs match nothing', () => {
  const long = templateMatcher(`demo://${'a'.repeat(MAX_TEMPLATE_CHARS)}{+x}`);
  assert.match(long.problem ?? '', /longer than/);
  assert.ok(!long.test(`demo://${'a'.repeat(MAX_TEMPLATE_CHARS)}b`));
  const many = templateMatcher(`demo://${'{x}'.repeat(MAX_TEMPLATE_EXPRESSIONS + 1)}`);
  assert.match(many.problem ?? '', /more than/);
  assert.ok(!templateMatcher('file://{+path}').test(`file:///${'a'.repeat(MAX_URI_CHARS)}`));
  assert.ok(templateMatcher('file://{+path}').test(`file:///${'a'.repeat(MAX_URI_CHARS - 10)}`));
});
