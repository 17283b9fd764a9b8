/**
 * A resource URI in the one form every stage sees and the upstream receives ("forward what you
 * checked"): canonical (src/policy/canonical.ts: scheme case, percent-encoding, dot segments,
 * traversal and look-alikes), and for a local server a file URI is the real path behind any symlink.
 * Made before routing, so the catalogue item, its quarantine, policy, an approval's binding and the
 * audit all see what goes upstream, not another spelling of it.
 */
import { canonicalPath, canonicalResourceUri, fileUri, realPathOf } from '../policy/canonical.ts';
import type { Resource } from '../policy/model.ts';
import type { PipelineDeps } from './types.ts';

export type ForwardedUri =
  | {
      ok: true;
      /** What policy judges. */
      resource: Resource;
      /** What goes upstream. */
      uri: string;
      /** Every canonical form the URI had on the way (canonical, then real): each names what the server lists. */
      forms: string[];
    }
  | { ok: false; reason: string };

/** Whether paths of this server name files the gateway sees too (a local process). */
export function localServer(deps: Pick<PipelineDeps, 'credentials'>, server: string): boolean {
  return deps.credentials.configOf(server)?.transport === 'stdio';
}

/** `raw`, a URI as `server` would be sent it, in the form that is checked and forwarded. */
export async function forwardedUri(
  deps: Pick<PipelineDeps, 'credentials'>,
  server: string,
  raw: string,
): Promise<ForwardedUri> {
  const c = canonicalResourceUri(raw);
  if (!c.ok) return c;
  if (c.resource.kind !== 'path' || !localServer(deps, server))
    return { ok: true, resource: c.resource, uri: c.uri, forms: [c.uri] };
  const path = c.resource.value;
  // A refusal names the path as given, never where a link points on the gateway's host.
  const real = canonicalPath(await realPathOf(path), undefined, 'path', { path });
  if (!real.ok) return real;
  if (real.value === path) return { ok: true, resource: c.resource, uri: c.uri, forms: [c.uri] };
  const uri = fileUri(real.value);
  return { ok: true, resource: { kind: 'path', value: real.value }, uri, forms: [c.uri, uri] };
}
