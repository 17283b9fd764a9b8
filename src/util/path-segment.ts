/** A percent-encoded path segment, decoded; undefined when its encoding is malformed (`%ZZ`): nothing by that name. */
export function decodeSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
