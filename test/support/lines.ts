/** Files of one record a line (the recording upstream's, a log) as tests count in them. */
import { readFileSync } from 'node:fs';

/** How many lines of `file` contain every one of `needles` (all its lines, with none). */
export function linesWith(file: string, ...needles: string[]): number {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => needles.every((n) => l.includes(n))).length;
}
