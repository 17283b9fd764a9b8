/**
 * An option given another of its command's own flags as its value: commander takes the token after
 * an option that needs a value as that value, whatever it is, so `audit search --kind --json` searched
 * for the kind `--json` and printed its failure as text. A known flag right after such an option is
 * almost always a value left out: a usage error. Unknown `--words` stay values (a reason may start
 * with dashes), and `--kind=--json` still gives a flag's spelling on purpose.
 */
import type { Command } from 'commander';

/** The usage error for the first option whose value is one of `cmd`'s flags in `args`, or undefined. */
export function flagTakenAsValue(args: readonly string[], cmd: Command): string | undefined {
  const spellings = (o: Command['options'][number]) => [o.long, o.short].filter((f): f is string => Boolean(f));
  const flags = new Set(['--help', '-h', ...cmd.options.flatMap(spellings)]);
  const end = args.indexOf('--');
  const given = end < 0 ? args : args.slice(0, end);
  for (let i = 0; i + 1 < given.length; i++) {
    const o = cmd.options.find((x) => x.required && spellings(x).includes(given[i]));
    if (o && flags.has(given[i + 1]))
      return `option '${o.flags}' argument missing: \`${given[i + 1]}\` is an option of this command, not a value (to give it as the value, write ${o.long}=${given[i + 1]})`;
  }
  return undefined;
}
