/**
 * Descriptors this process inherited open and not close-on-exec (a launcher's lock or log file, a
 * supervisor's pipe): every child would inherit them too, and a sandboxed server reads through an
 * inherited descriptor what its mount namespace hides (bubblewrap does not close them). Closed at
 * start. Node's own descriptors are all close-on-exec (libuv opens them so), and so is an IPC
 * channel's. Linux (`/proc`); elsewhere nothing is done.
 */
import { closeSync, readdirSync, readFileSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

export function closeInheritedDescriptors(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const keep = Number(process.env.NODE_CHANNEL_FD ?? -1);
  const closed: number[] = [];
  for (const e of entries) {
    const fd = Number(e);
    if (!Number.isInteger(fd) || fd < 3 || fd === keep) continue;
    let flags: number;
    try {
      const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (!m) continue;
      flags = Number.parseInt(m[1], 8);
    } catch {
      continue; // gone meanwhile (the directory listing's own descriptor)
    }
    if (flags & O_CLOEXEC) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // already closed
    }
  }
  return closed;
}
