/**
 * "Did you mean": the known word nearest to a misspelt one, case-insensitively. One edit distance
 * (Levenshtein) behind two choosers: `suggest` for names in policy (a few edits at most), and
 * `closestKey` for config keys, which also accepts the same word with a different ending
 * (`maxBody` → `maxBodySize`).
 */

/** Insertions, deletions and substitutions needed to turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The first of the closest `candidates` to `word` within `maxEdits` edits, or undefined. */
export function suggest(word: string, candidates: readonly string[], maxEdits = 2): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = maxEdits + 1;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    if (Math.abs(w.length - lc.length) >= bestD) continue; // the length difference alone is too many edits
    const d = editDistance(w, lc);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** The known key nearest to a misspelt one, when it is near enough to be what was meant. */
export function closestKey(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  let byPrefix: string | undefined;
  let longestPrefix = Math.max(4, Math.ceil(w.length / 2)) - 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
    const p = commonPrefix(w, c.toLowerCase());
    if (p > longestPrefix) [byPrefix, longestPrefix] = [c, p];
  }
  // Near in spelling (`comand`), or the same word with a different ending (`maxBodySize`).
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(w.length / 3))) ? best : byPrefix;
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && a[n] === b[n]) n++;
  return n;
}
