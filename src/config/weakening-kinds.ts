/** What `gateway.reloadMayWeaken` may name: each kind of weakening a reload refuses (./weakening.ts). */
export const WEAKENING_KINDS = [
  'identity',
  'anonymous',
  'proxies',
  'issuers',
  'policy',
  'audit',
  'sandbox',
  'secrets',
  'metrics',
] as const;
export type WeakeningKind = (typeof WEAKENING_KINDS)[number];
