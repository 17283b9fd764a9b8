import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameProblem, skeleton } from './names.ts';
import { templateMatcher as templateRegex } from './template.ts';

test('ordinary tool names pass', () => {
  for (const n of ['echo', 'read_file', 'get-sum', 'files.read', 'créer_fichier', '読み込む'])
    assert.equal(nameProblem(n), undefined, n);
});

test('a printable ASCII name passes whatever its characters; one control character sends it to the full checks', () => {
  let every = '';
  for (let c = 0x20; c <= 0x7e; c++) every += String.fromCharCode(c);
  assert.equal(nameProblem(every.slice(0, 95)), undefined);
  assert.match(nameProblem('read_file\u007f') ?? '', /invisible|control/);
  assert.match(nameProblem('read_file\u0085') ?? '', /invisible|control/);
});

test('invisible, control, bidi and tag characters are refused', () => {
  for (const n of ['echo\u200b', 'ec\u202eho', 'echo\u0000', 'echo\u{E0041}', 'a\u00a0b', 'tab\tname']) {
    assert.match(nameProblem(n) ?? '', /invisible|control/, JSON.stringify(n));
  }
});

test('mixed scripts are refused (Cyrillic а in a Latin name)', () => {
  assert.match(nameProblem('re\u0430d_file') ?? '', /mixes scripts \(Cyrillic, Latin\)/);
  assert.match(nameProblem('\u03bfpen') ?? '', /mixes scripts/);
});

test('non-nfc names and overlong names are refused', () => {
  assert.match(nameProblem('cre\u0301er') ?? '', /nfc/);
  assert.match(nameProblem('x'.repeat(129)) ?? '', /longer/);
});

test('look-alike names share a skeleton', () => {
  assert.equal(skeleton('read_file'), skeleton('Read-File'));
  assert.equal(skeleton('read_file'), skeleton('ｒｅａｄ_file'));
  assert.equal(skeleton('delete_all'), skeleton('de1ete_a11'));
  assert.notEqual(skeleton('read_file'), skeleton('write_file'));
});

test('resource templates match the uris they expand to', () => {
  assert.ok(templateRegex('demo://resource/{id}').test('demo://resource/42'));
  assert.ok(!templateRegex('demo://resource/{id}').test('demo://resource/42/more'));
  assert.ok(templateRegex('file://{+path}').test('file:///a/b/c'));
  assert.ok(!templateRegex('demo://a.{x}').test('demo://abx'));
});
