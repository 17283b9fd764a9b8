/** Which closed descriptors were a launcher's plumbing (routine) and which a file (worth a line). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPlumbing } from './inherited-fds.ts';

test('pipes, sockets, anonymous inodes and devices are plumbing; files and directories are not', () => {
  for (const t of ['pipe:[4711]', 'socket:[99]', 'anon_inode:[eventfd]', '/dev/null', '/dev/pts/3', ''])
    assert.equal(isPlumbing(t), true, t);
  for (const t of ['/run/lock/deploy.lock', '/var/log/launcher.log', '/home/me (deleted)', '/'])
    assert.equal(isPlumbing(t), false, t);
});
