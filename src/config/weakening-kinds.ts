/** What `gateway.reloadMayWeaken` may name: each kind of weakening a reload refuses (./weakening.ts). */
export const WEAKENING_KINDS = [
  'identity',
  'anonymous',
  'proxies',
  'issuers',
  'policy',
  'limits',
  'inventory',
  'audit',
  'sandbox',
  'servers',
  'credentials',
  'secrets',
  'metrics',
] as const;
export type WeakeningKind = (typeof WEAKENING_KINDS)[number];

export interface Weakening {
  kind: WeakeningKind;
  /** `refuse`: the reload is refused unless the new config names `kind`; `warn`: applied, logged at warn level. */
  decision: 'refuse' | 'warn';
  /** What would be weaker, in the operator's words (names settings, never values of secrets). */
  says: string;
}

export const refuse = (kind: WeakeningKind, says: string): Weakening => ({ kind, decision: 'refuse', says });
export const warn = (kind: WeakeningKind, says: string): Weakening => ({ kind, decision: 'warn', says });
/** The members of `after` not in `before`. */
export const added = <T>(before: readonly T[] = [], after: readonly T[] = []): T[] =>
  after.filter((x) => !before.includes(x));
