/**
 * Progress of long work on stderr. On a terminal one line rewritten in place; in a file or a pipe
 * (a CI log, `2> log`) a line of its own when the text changes, at most one a second, never the
 * carriage-return runs that read as one endless line there. Only a counter is thinned so; a line
 * that says something new (an attempt, its failure, the retry) is a `note`, never dropped.
 */
export interface Progress {
  /** Where a count stands: on a terminal rewritten in place, in a log at most once a second. */
  update(text: string): void;
  /** Something that happened: a line of its own everywhere, kept on a terminal, never throttled. */
  note(text: string): void;
  /** The work is done: clear the line (terminal), and print `final` when given. */
  end(final?: string): void;
}

export function progress(stream: NodeJS.WriteStream = process.stderr, everyMs = 1000): Progress {
  const tty = stream.isTTY === true;
  let shown = false;
  let last = '';
  let latest = '';
  let at = 0;
  return {
    update(text) {
      latest = text;
      if (tty) {
        stream.write(`\r${text}\x1b[K`);
        shown = true;
        return;
      }
      const now = Date.now();
      if (text === last || now - at < everyMs) return;
      stream.write(`${text}\n`);
      last = text;
      at = now;
    },
    note(text) {
      if (tty) stream.write(`\r${text}\x1b[K\n`);
      else stream.write(`${text}\n`);
      // A count after it is shown again: the note came in between.
      shown = false;
      last = '';
      latest = '';
    },
    end(final) {
      if (tty && shown) stream.write('\r\x1b[K');
      // In a log, where the count stood at the end, not a second before it.
      else if (!tty && final === undefined && latest !== last) stream.write(`${latest}\n`);
      if (final !== undefined) stream.write(`${final}\n`);
    },
  };
}
