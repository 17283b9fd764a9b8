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
