/**
 * What /readyz says, and to whom. Its status (200 or 503) and why, in operator terms — the store, the
 * audit trail, how many upstreams are ready and what keeps the others — go to anyone who may read it
 * (a load balancer's probe). Which servers are configured, and which of them cannot connect (a secret
 * missing), is for the operator: with identity configured the gateway hides a server a caller may not
 * see (`unknown server`, `unknown tool`: ADR 0010), so /readyz does not list them to a caller who
 * presented nothing. It names them to a caller holding the scrape token (`gateway.metricsToken`), and
 * on a gateway without identity, which authenticates no one anyway. No tool or tenant name is ever in it.
 */
export interface Readiness {
  ready: boolean;
  store: string;
  audit: string;
  /** Each enabled server and its state (`ready`, `circuit open`, `credentials unavailable`, ...). */
  upstreams: Record<string, string>;
}

/** `named`: the caller may read server names (it presented the scrape token, or the gateway has no identity). */
export function readyzBody(r: Readiness, named: boolean): Record<string, unknown> {
  const head = { status: r.ready ? 'ready' : 'not ready', store: r.store, audit: r.audit };
  if (named) return { ...head, upstreams: r.upstreams };
  return {
    ...head,
    upstreams: upstreamsInWords(Object.values(r.upstreams)),
    detail: 'server names are shown to a caller with the scrape token (gateway.metricsToken)',
  };
}

/** `2 of 3 ready; not ready: 1 credentials unavailable`: counts by state, no name. */
function upstreamsInWords(states: string[]): string {
  const ready = states.filter((s) => s === 'ready').length;
  const others = new Map<string, number>();
  for (const s of states) if (s !== 'ready') others.set(s, (others.get(s) ?? 0) + 1);
  const head = `${ready} of ${states.length} ready`;
  if (!others.size) return head;
  return `${head}; not ready: ${[...others].map(([why, n]) => `${n} ${why}`).join(', ')}`;
}
