/**
 * Reading a config or policy file: a regular file of at most 8 MiB, checked on the descriptor that is
 * read (no window between the check and the read). A path to `/dev/zero`, a FIFO or a huge file grew
 * `gatehouse config validate` by gigabytes; a running gateway reloading a swapped file would have too.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export class ConfigFileError extends Error {}

/** The file's text (UTF-8); throws ConfigFileError for what is not a small regular file, else the open's own error. */
export function readConfigText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigFileError(`${path} is not a regular file`);
    if (st.size > MAX_CONFIG_BYTES)
      throw new ConfigFileError(`${path} is larger than 8 MiB (${st.size} bytes): a configuration is much smaller`);
    // The size may change while it is read: read at most the limit and one byte more.
    const buf = Buffer.allocUnsafe(Math.min(st.size, MAX_CONFIG_BYTES) + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_CONFIG_BYTES)
      throw new ConfigFileError(`${path} is larger than 8 MiB: a configuration is much smaller`);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}
