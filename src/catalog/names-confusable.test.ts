import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameProblem, wholeScriptConfusable } from './names.ts';

test('a name wholly in one non-Latin script whose every letter looks Latin reads as that Latin name', () => {
  assert.equal(
    nameProblem('раураl'),
    'name mixes scripts (Cyrillic, Latin)',
    'control: mixed scripts are refused outright',
  );
  assert.deepEqual(wholeScriptConfusable('рау_аре'), { script: 'Cyrillic', reads: 'pay_ape' });
  assert.equal(nameProblem('рау_аре'), undefined, 'one script: the name check lets it through…');
  assert.deepEqual(wholeScriptConfusable('ехес'), { script: 'Cyrillic', reads: 'exec' }, '…so the inventory flags it');
  assert.deepEqual(wholeScriptConfusable('ΚΟΝΤΑΚΤ'), { script: 'Greek', reads: 'KONTAKT' });
});

test('honest names are not flagged', () => {
  for (const n of ['read_file', 'поиск', 'файл', 'λίστα', 'ファイル', 'x', 'а', 'get_2'])
    assert.equal(wholeScriptConfusable(n), undefined, n);
});
