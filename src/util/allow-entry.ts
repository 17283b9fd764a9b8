/** An entry of a sandbox's egress allowlist (`sandbox.network.allow`): where a server may connect. */
export interface AllowEntry {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `*.domain:port`; hosts compared in lower case. */
export function parseAllow(entry: string): AllowEntry {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9*][A-Za-z0-9.*-]*):(\d{1,5})$/.exec(entry);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new Error(`egress allowlist entry \`${entry}\` is not host:port`);
  return { host: m[1].replace(/^\[|\]$/g, '').toLowerCase(), port: Number(m[2]) };
}
