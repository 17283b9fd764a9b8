import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progress } from './progress.ts';

function sink(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = {
    isTTY: tty,
    write: (s: string) => {
      text += s;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

test('in a file or a pipe: whole lines, a repeated text once, at most one a second; the final line', () => {
  const s = sink(false);
  const p = progress(s.stream, 1000);
  for (let i = 0; i < 25; i++) p.update('waiting for 1 of 1 gateway(s) to confirm...');
  p.update('waiting for 0 of 1 gateway(s) to confirm...'); // within the second: not shown
  p.end('exported 48 records to out.cef');
  assert.equal(s.text(), 'waiting for 1 of 1 gateway(s) to confirm...\nexported 48 records to out.cef\n');
});

test('on a terminal: one line rewritten in place, cleared at the end', () => {
  const s = sink(true);
  const p = progress(s.stream);
  p.update('exported 1000 records');
  p.update('exported 2000 records');
  p.end('exported 2048 records to out.cef');
  assert.equal(
    s.text(),
    '\rexported 1000 records\x1b[K\rexported 2000 records\x1b[K\r\x1b[Kexported 2048 records to out.cef\n',
  );
});

test('in a log, the end says where the count stood at the end', () => {
  const s = sink(false);
  const p = progress(s.stream, 1000);
  p.update('verified 4 records');
  p.update('verified 104 records'); // within the second: held back
  p.end();
  assert.equal(s.text(), 'verified 4 records\nverified 104 records\n');
});

test('a note is never thrown away: in a log each is a line, however fast they come; on a terminal each is kept', () => {
  const log = sink(false);
  const p = progress(log.stream, 1000);
  p.note('attempt 1 of 2');
  p.note('attempt 1 of 2 failed (connect ECONNREFUSED); next in 0.5 s');
  p.note('attempt 2 of 2');
  p.end();
  assert.equal(
    log.text(),
    'attempt 1 of 2\nattempt 1 of 2 failed (connect ECONNREFUSED); next in 0.5 s\nattempt 2 of 2\n',
  );
  const term = sink(true);
  const q = progress(term.stream);
  q.update('waiting...');
  q.note('attempt 1 of 2 failed');
  q.end();
  assert.equal(term.text(), '\rwaiting...\x1b[K\rattempt 1 of 2 failed\x1b[K\n');
});
