/** An entry of a sandbox's egress allowlist (`sandbox.network.allow`): where a server may connect. */
export interface AllowEntry {
  host: string;
  port: number;
}

/** The form of an entry, as the schema checks it (schema.ts) and its message says it (ALLOW_ENTRY_FORM). */
export const ALLOW_ENTRY_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9*][A-Za-z0-9.*-]*):([0-9]{1,5})$';

/** What an entry looks like, for messages (which never echo the entry: it may come from the environment). */
export const ALLOW_ENTRY_FORM = 'must be `host:port`, `[v6]:port` or `*.domain:port` (a port from 1 to 65535)';

/**
 * A host as the allowlist compares it: lower case, without brackets, and without the trailing dot of
 * a fully qualified name (`localhost.` is `localhost`), both in an entry and in what a server asks
 * for, so an entry matches whichever spelling the server uses and the config's checks see the name.
 */
export function allowHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/(?<=[^.])\.$/, '');
}

/** `host:port`, `[v6]:port` or `*.domain:port`; hosts compared as allowHost spells them. */
export function parseAllow(entry: string): AllowEntry {
  const m = new RegExp(ALLOW_ENTRY_PATTERN).exec(entry);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`egress allowlist entry ${ALLOW_ENTRY_FORM}`);
  return { host: allowHost(m[1]), port: Number(m[2]) };
}
