/** The configuration schema of `gateway:` (listener, limits on what callers send) and `storage:`. */
import { Type } from '@sinclair/typebox';
import { DEFAULT_STATE_DIR } from '../defaults.ts';
import { DEFAULT_QUERY_TIMEOUT_MS } from '../../storage/index.ts';
import { MiB } from './common.ts';
import { WEAKENING_KINDS } from '../weakening-kinds.ts';

export const Listen = Type.Object(
  {
    host: Type.Optional(
      Type.String({
        default: '127.0.0.1',
        description: 'An IP address (`0.0.0.0` or `::` for every interface) or a host name; IPv6 without brackets.',
      }),
    ),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 8765 })),
  },
  { additionalProperties: false, default: {} },
);

export const Gateway = Type.Object(
  {
    listen: Type.Optional(Listen),
    publicUrl: Type.Optional(Type.String({ format: 'uri', description: 'The URL clients use to reach the gateway.' })),
    stateDir: Type.Optional(Type.String({ default: DEFAULT_STATE_DIR, description: 'Relative to the config file.' })),
    allowedOrigins: Type.Optional(
      Type.Array(Type.String(), {
        default: [],
        description:
          'Browser origins allowed besides the gateway itself (exact match): `scheme://host[:port]` as browsers send it, lowercase, without a path or a default port.',
      }),
    ),
    allowedHosts: Type.Optional(
      Type.Array(Type.String(), {
        default: [],
        description:
          'Host header values allowed besides loopback names and publicUrl: `host[:port]` as clients send it (no scheme, no path).',
      }),
    ),
    namespaceSeparator: Type.Optional(
      Type.String({ minLength: 1, maxLength: 4, pattern: '^[_.:/-]+$', default: '__' }),
    ),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024 })),
    maxUpstreamBufferedBytes: Type.Optional(
      Type.Integer({
        minimum: 64 * 1024,
        maximum: 64 * 1024 * MiB,
        default: 256 * MiB,
        description:
          "Bytes held at once from all upstream servers and not yet parsed (answers and events being read, stdio lines not yet ended). A message that would take the total over it is refused: its call fails with `the gateway holds too much unread upstream data`, and another tenant's server cannot make the gateway buffer more.",
      }),
    ),
    maxBufferedRequestBytes: Type.Optional(
      Type.Integer({
        minimum: 64 * 1024,
        maximum: 64 * 1024 * MiB,
        description:
          "Bytes of client requests held at once: each body from its first byte, taken as it arrives, until its request is answered or its connection closes (a call waiting for an approval or a slow upstream holds its request that long). Each tenant's requests hold at most half of it, and requests read before their caller is known (a request's id, read while the store is away) half, so one tenant cannot take what the others need; a tenant holding less than `maxBodyBytes` may take up to that even when the whole is held, from a reserve beyond it (a quarter of it, at least twice `maxBodyBytes`), so at most this and its reserve are held. A body that would go over is refused as it arrives (503, `the gateway holds as much request data as it may`) and its connection closed. At least twice `maxBodyBytes` (a tenant's half holds one body of the largest size). Default: an eighth of the V8 heap limit (`--max-old-space-size`, or what Node derives from the machine's or container's memory; about 32 MiB in a 512 MiB container, 512 MiB under a 4 GiB heap), at least twice `maxBodyBytes`: what a request holds in the heap is several times its bytes once decoded and parsed, so an eighth leaves the heap for everything else when the budget is full.",
      }),
    ),
    maxJsonDepth: Type.Optional(Type.Integer({ minimum: 4, maximum: 1000, default: 64 })),
    headersTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 600_000,
        description:
          'A request whose headers have not all arrived by then is refused (408) and its connection closed. Default 10000.',
      }),
    ),
    bodyTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 600_000,
        description:
          'A request body that has not all arrived by then is refused (408) and its connection closed. Default 30000.',
      }),
    ),
    maxConnections: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description:
          "HTTP connections held open at once, from every client together; one more is answered 503 and closed at once. Each takes a file descriptor from the limit the gateway's upstream pipes, store and audit spool share. Default: half of (the process's open-file limit - 256), between 64 and 16384 (1024 where the limit cannot be read).",
      }),
    ),
    maxConnectionsPerAddress: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description:
          "HTTP connections held open at once from one client address (default 256; an IPv6 client is counted by its /64); one more is answered 503 and closed at once. A reverse proxy's address is one source for all its clients: connections from an address in `trustedProxies` count toward `maxConnections` only (limit them per client at the proxy); a proxy not listed there is held to this cap.",
      }),
    ),
    sessionIdleSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 604_800, default: 3600 })),
    tenantIdleMinutes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_080,
        description:
          "A tenant's upstream connection (a process per tenant for stdio servers) unused this long is stopped; the next request starts it again. The discovery tenant's stays. Default 15.",
      }),
    ),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, default: 500, description: 'Items per page in listings.' }),
    ),
    allowUnauthenticated: Type.Optional(
      Type.Union([Type.Literal('loopback'), Type.Literal('never')], {
        default: 'loopback',
        description: 'Until identity is configured, unauthenticated callers are served only from loopback addresses.',
      }),
    ),
    trustedProxies: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description:
          'IP addresses (IPv4 or IPv6; one per proxy, not ranges) of reverse proxies in front of the gateway. Without identity, a request carrying Forwarded, X-Forwarded-For, X-Real-IP, Via or a like header is refused unless it comes from one of these.',
      }),
    ),
    reloadMayWeaken: Type.Optional(
      Type.Array(Type.Union(WEAKENING_KINDS.map((k) => Type.Literal(k))), {
        description:
          'A reload that would weaken one of these is applied (with a warning) instead of refused: `identity` (section removed, claims mapping, admin roles), `anonymous`, `proxies`, `issuers`, `policy` (section removed), `limits` (removed, or a rule of them), `inventory` (newTools accept), `audit`, `sandbox`, `servers`, `credentials` (a reference losing `{tenant}`), `secrets`, `metrics`. Read from the new file at reload only; remove it once applied. See docs/operations.md.',
      }),
    ),
    metricsToken: Type.Optional(
      Type.String({
        minLength: 16,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
        description: '/metrics and /readyz require `Authorization: Bearer <this>` (use ${METRICS_TOKEN}).',
      }),
    ),
    maxSessionsPerPrincipal: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        default: 100,
        description: 'Legacy sessions one principal may hold open.',
      }),
    ),
    maxSessionsPerTenant: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        default: 1000,
        description: 'Legacy sessions one tenant may hold open.',
      }),
    ),
    maxHeldCallsPerPrincipal: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 20,
        description:
          'Upstream calls of one principal waiting for its answer to a question (modern callers), in this process.',
      }),
    ),
    maxHeldCallsPerTenant: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 200,
        description: 'The same, per tenant (at most 1000 in all).',
      }),
    ),
    maxListenStreamsPerPrincipal: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: 10,
        description: 'Open `subscriptions/listen` streams (2026-07-28) of one principal, in this process.',
      }),
    ),
    maxListenStreamsPerTenant: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: 1000,
        description: 'The same, per tenant (at most 10000 in all).',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);

export const Storage = Type.Object(
  {
    driver: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], { default: 'sqlite' }),
    sqlitePath: Type.Optional(
      Type.String({ default: 'gatehouse.db', description: 'Relative to the state directory.' }),
    ),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
    postgresUrl: Type.Optional(Type.String({ description: 'postgres://user@host:port/db; use ${DATABASE_URL}.' })),
    queryTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 3_600_000,
        default: DEFAULT_QUERY_TIMEOUT_MS,
        description:
          "PostgreSQL: how long one query may run, waits for locks included (the server's statement_timeout); a server that does not answer at all (stopped, or the network gone) is given a second more. A session left idle inside a transaction (its connection lost with no reset, holding the transaction's locks) is ended by the server two seconds after the bound (idle_in_transaction_session_timeout). The gateway's queries are short (searches, exports and run views read a page at a time); migrations run without it.",
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);
