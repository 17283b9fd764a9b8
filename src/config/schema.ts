/**
 * The configuration schema: one source for the TypeScript types (Static<>) and the JSON Schema
 * committed as schema/gatehouse.schema.json (`npm run schema`). Defaults are filled in by the loader.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_STATE_DIR } from './defaults.ts';
import { DEFAULT_QUERY_TIMEOUT_MS } from '../storage/index.ts';
import type { Policy } from '../policy/model.ts';
import { ALLOW_ENTRY_PATTERN } from '../util/allow-entry.ts';

const Name = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,47}$',
  description: 'Lowercase letters, digits, `_` and `-`; at most 48 characters.',
});

const Env = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
  description: 'Environment variables for the process. Values may use ${VAR} references.',
});

const Timeouts = Type.Object(
  {
    connectMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 600_000,
        default: 15_000,
        description: 'Time allowed to start and handshake.',
      }),
    ),
    requestMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 3_600_000,
        default: 60_000,
        description: 'Time allowed for a request; progress notifications reset it.',
      }),
    ),
    maxTotalMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 86_400_000,
        default: 300_000,
        description: 'Hard limit for a request, even while progress keeps arriving.',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);

const MiB = 1024 * 1024;

const Messages = Type.Object(
  {
    maxBytes: Type.Optional(
      Type.Integer({
        minimum: 1024,
        maximum: 1024 * MiB,
        description:
          'Largest message read from the server (a JSON answer, an SSE event, a stdio line). A larger answer fails its call (`upstream response larger than N bytes`) and is never parsed. Default 64 MiB.',
      }),
    ),
    maxNotificationBytes: Type.Optional(
      Type.Integer({
        minimum: 1024,
        maximum: 1024 * MiB,
        description:
          "Largest event on an HTTP server's streams of notifications (the GET stream of a 2025-11-25 session and `subscriptions/listen` streams), which also carry the server's requests outside a call (sampling, elicitation): a larger one is dropped unread and logged. A `transport: sse` server has one stream for everything: a notification larger than this is dropped once read (its requests, which may belong to a call, are bounded by maxBytes). Default 1 MiB (at most maxBytes).",
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'What the gateway reads from the server before parsing it. All servers together are bounded by `gateway.maxUpstreamBufferedBytes`.',
  },
);

const Restart = Type.Object(
  {
    initialDelayMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000, default: 500 })),
    maxDelayMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000, default: 30_000 })),
  },
  { additionalProperties: false, default: {}, description: 'Exponential backoff when a stdio server exits.' },
);

const ToolClass = Type.Union([Type.Literal('READ'), Type.Literal('WRITE'), Type.Literal('DESTRUCTIVE')], {
  description:
    'READ changes nothing; WRITE changes something recoverable; DESTRUCTIVE deletes, pays, deploys or cannot be undone.',
});

const ToolSettings = Type.Object(
  {
    class: Type.Optional(ToolClass),
    note: Type.Optional(Type.String({ maxLength: 2000, description: 'Why it has this class, for reviewers.' })),
  },
  { additionalProperties: false },
);

const CredentialRef = Type.String({
  pattern: '^(vault://|aws-sm://|op://|exec:|env:|local:)',
  description:
    'A secret reference: vault://mount/path#field, aws-sm://id#field, op://vault/item/field, exec:command, env:NAME, local:name. `{tenant}` and `{env}` are filled per call.',
});

const Credentials = Type.Object(
  {
    env: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), CredentialRef, {
        description: 'stdio servers: environment variables set from secrets.',
      }),
    ),
    headers: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z0-9-]+$' }),
        Type.Union([
          CredentialRef,
          Type.Object(
            { ref: CredentialRef, prefix: Type.Optional(Type.String({ description: 'e.g. `Bearer `' })) },
            { additionalProperties: false },
          ),
        ]),
        {
          description: 'http servers: request headers set from secrets.',
        },
      ),
    ),
    discoveryTenant: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$',
        description: 'Whose credentials list the tools (when the references name {tenant}). Default `default`.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Upstream credentials, resolved at call time from a secrets manager; never seen by agents.',
  },
);

const ServerCommon = {
  credentials: Type.Optional(Credentials),
  name: Name,
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  owner: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'The team or person answerable for this server.' }),
  ),
  contact: Type.Optional(
    Type.Object(
      {
        email: Type.Optional(
          Type.Array(Type.String({ format: 'email', maxLength: 320 }), {
            minItems: 1,
            maxItems: 20,
            description: 'Addresses `gatehouse incident notify` writes to.',
          }),
        ),
        webhook: Type.Optional(
          Type.Object(
            {
              url: Type.String({ format: 'uri' }),
              secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 key for x-gatehouse-signature.' }),
            },
            { additionalProperties: false, description: 'A Slack-compatible, signed webhook for incident notices.' },
          ),
        ),
      },
      { additionalProperties: false, description: 'How to reach the owner when an incident concerns this server.' },
    ),
  ),
  repository: Type.Optional(
    Type.String({ minLength: 1, maxLength: 2000, description: 'Where its source lives (URL or package name).' }),
  ),
  location: Type.Optional(
    Type.String({ minLength: 1, maxLength: 2000, description: 'Where it runs (host, cluster, region, or `local`).' }),
  ),
  environment: Type.Optional(
    Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$', description: 'e.g. `dev`, `staging`, `prod`.' }),
  ),
  scopes: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      description: 'Upstream permissions it needs (OAuth scopes, roles).',
    }),
  ),
  resources: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), {
      description: 'Resources it may touch (repositories, projects, folders, URLs): its bounds, written down.',
    }),
  ),
  tools: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 128 }), ToolSettings, {
      description:
        "Per tool (the server's own tool name): the operator's classification, which wins over any proposal.",
    }),
  ),
  connections: Type.Optional(
    Type.Union([Type.Literal('per-tenant'), Type.Literal('per-user')], {
      description:
        "Who shares an upstream connection (a process, for stdio): each tenant's callers (default), or each user alone. `per-user` keeps what a stateful server remembers of one caller (roots it was given, files it opened) from every other caller of the same tenant, at the cost of a connection per user.",
    }),
  ),
  roots: Type.Optional(
    Type.Boolean({
      description:
        "Offer this server the callers' roots (`roots/list`, asked during a call and relayed to the caller who made it). Default true. `false`: the gateway declares no `roots` capability to it, so a server that asks as soon as it starts, when no caller can answer (and logs that it failed), does not ask, and one that takes its folders from its arguments keeps them.",
    }),
  ),
  timeouts: Type.Optional(Timeouts),
  messages: Type.Optional(Messages),
  circuit: Type.Optional(
    Type.Object(
      {
        failures: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 1000,
            description: 'Consecutive failures that open the circuit. Default 5.',
          }),
        ),
        errorRate: Type.Optional(
          Type.Number({
            exclusiveMinimum: 0,
            maximum: 1,
            description: 'Failure ratio over the window that opens it. Default 0.5.',
          }),
        ),
        minRequests: Type.Optional(
          Type.Integer({
            minimum: 1,
            maximum: 100_000,
            description: 'Requests in the window before the rate counts. Default 20.',
          }),
        ),
        windowMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000, description: 'Default 30000.' })),
        cooldownMs: Type.Optional(
          Type.Integer({
            minimum: 100,
            maximum: 3_600_000,
            description: 'Open this long before one probe request. Default 5000; doubles after a failed probe.',
          }),
        ),
        maxCooldownMs: Type.Optional(
          Type.Integer({ minimum: 100, maximum: 86_400_000, description: 'Default 60000.' }),
        ),
      },
      { additionalProperties: false, description: 'Circuit breaker: fail fast while the server keeps failing.' },
    ),
  ),
  disabled: Type.Optional(
    Type.Boolean({ default: false, description: 'Keep the server in config but do not start it.' }),
  ),
  era: Type.Optional(
    Type.Union([Type.Literal('auto'), Type.Literal('legacy'), Type.Literal('modern')], {
      default: 'auto',
      description:
        'The MCP era spoken to this server. `auto`: probe with server/discover; a server that speaks both eras is also reached over a 2025-11-25 session for legacy callers that can be asked questions (sampling, elicitation, roots). `legacy`: always 2025-11-25 (`initialize`). `modern`: always 2026-07-28; a server that does not answer server/discover is unavailable. `sse` servers are always legacy.',
    }),
  ),
};

const AbsolutePath = Type.String({
  pattern: '^/',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
  description: 'An absolute path (use ${GATEHOUSE_CONFIG_DIR} or ${GATEHOUSE_STATE_DIR} for relative ones).',
});

const Sandbox = Type.Object(
  {
    network: Type.Optional(
      Type.Union(
        [
          Type.Literal('none'),
          Type.Literal('host'),
          Type.Object(
            {
              allow: Type.Array(Type.String({ pattern: ALLOW_ENTRY_PATTERN }), {
                description:
                  "`host:port` (or `*.domain:port`) the server may connect to, through the gateway's egress proxy; names resolving to private, loopback, link-local or metadata addresses are refused (an internal address is allowed only when written here as a literal; metadata addresses never are).",
              }),
            },
            { additionalProperties: false },
          ),
        ],
        {
          default: 'none',
          description:
            "`none` (default): loopback only, nothing leaves; `{ allow: [...] }`: only the listed destinations, through a proxy in the gateway, each refusal recorded in the audit trail; `host`: the host's network, unrestricted.",
        },
      ),
    ),
    paths: Type.Optional(
      Type.Object(
        {
          read: Type.Optional(Type.Array(AbsolutePath, { description: 'Extra paths the server may read.' })),
          write: Type.Optional(
            Type.Array(AbsolutePath, {
              description: 'Paths the server may read and write (they must be writable by the sandbox user).',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            "Besides the system directories, its command, its package and its cwd (read-only). `{tenant}` in a path (and in the server's args) is the connection's tenant: a folder per tenant, where every tenant's server runs as the same user.",
        },
      ),
    ),
    secrets: Type.Optional(
      Type.Union([Type.Literal('env'), Type.Literal('file')], {
        description:
          'How `credentials.env` values reach the server: `env` (default) as environment variables, `file` as /run/secrets/<NAME> with <NAME>_FILE naming it.',
      }),
    ),
    user: Type.Optional(
      Type.Object(
        {
          uid: Type.Integer({ minimum: 1, maximum: 4294967294 }),
          gid: Type.Optional(Type.Integer({ minimum: 1, maximum: 4294967294 })),
        },
        {
          additionalProperties: false,
          description:
            "The user the server runs as when the gateway runs as root (default 65534, nobody); otherwise the gateway's own user.",
        },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          memoryMb: Type.Optional(Type.Integer({ minimum: 16, description: 'Default 1024.' })),
          processes: Type.Optional(Type.Integer({ minimum: 1, description: 'Processes and threads; default 128.' })),
          cpus: Type.Optional(
            Type.Number({ exclusiveMinimum: 0, description: 'CPU share in cores (cgroups); default 1.' }),
          ),
          cpuSeconds: Type.Optional(
            Type.Integer({ minimum: 1, description: 'CPU time a process may use in all; default none.' }),
          ),
          openFiles: Type.Optional(Type.Integer({ minimum: 16, description: 'Default 1024.' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Run the server in a bubblewrap sandbox (Linux, needs bwrap): read-only view of what it needs, private /tmp, own PID namespace, no-new-privileges, seccomp, resource limits, restricted egress. Absent: unsandboxed (`gatehouse check` fails item 6.4).',
  },
);

const StdioServer = Type.Object(
  {
    ...ServerCommon,
    transport: Type.Literal('stdio'),
    command: Type.String({ minLength: 1 }),
    args: Type.Optional(Type.Array(Type.String(), { default: [] })),
    env: Type.Optional(Env),
    cwd: Type.Optional(
      Type.String({ description: 'Working directory; relative paths are relative to the config file.' }),
    ),
    inheritEnv: Type.Optional(
      Type.Array(Type.String(), {
        default: ['PATH', 'HOME', 'LANG', 'TMPDIR', 'NODE_OPTIONS'],
        description: 'Gateway environment variables passed through to the server; nothing else is inherited.',
      }),
    ),
    restart: Type.Optional(Restart),
    sandbox: Type.Optional(Sandbox),
  },
  { additionalProperties: false },
);

const UpstreamOAuth = Type.Object(
  {
    issuer: Type.String({
      format: 'uri',
      description: "The upstream's authorization server (its metadata is discovered).",
    }),
    clientId: Type.String({ minLength: 1, description: 'Gatehouse as a client registered there.' }),
    clientSecret: Type.Optional(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
      Type.String({ minLength: 1, description: 'Use ${VAR}; absent: a public client (PKCE only).' }),
    ),
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { default: [] })),
    resource: Type.Optional(
      Type.String({ format: 'uri', description: 'The resource indicator (RFC 8707); default: the server URL.' }),
    ),
    per: Type.Optional(
      Type.Union([Type.Literal('tenant'), Type.Literal('user')], {
        default: 'tenant',
        description: 'One authorization per tenant, or per user (subject) within a tenant.',
      }),
    ),
    tokenExchange: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "RFC 8693: exchange the caller's own OAuth access token at this authorization server for one for this server (per user); callers without one (API keys) use the stored authorization.",
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Gatehouse is the OAuth client of this server: one token per tenant (or user), by authorization code + PKCE (`gatehouse upstream authorize`), refreshed, stored encrypted.',
  },
);

const HttpServer = Type.Object(
  {
    ...ServerCommon,
    oauth: Type.Optional(UpstreamOAuth),
    transport: Type.Union([Type.Literal('http'), Type.Literal('sse')], {
      description:
        '`http`: Streamable HTTP (either MCP era, probed with server/discover); `sse`: legacy HTTP+SSE (2024-11-05).',
    }),
    url: Type.String({ format: 'uri', pattern: '^https?://' }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);

const Server = Type.Union([StdioServer, HttpServer]);

const Listen = Type.Object(
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

const Gateway = Type.Object(
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

const Storage = Type.Object(
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

const Scopes = Type.Array(Type.String({ minLength: 1 }), {
  description: 'OAuth scope values (RFC 6749 scope-tokens: printable ASCII, no space, quote or backslash).',
});

const Identity = Type.Object(
  {
    resource: Type.Optional(
      Type.String({
        format: 'uri',
        pattern: '^https?://',
        description:
          "The gateway's resource identifier: the audience tokens must carry, exactly. Default: publicUrl (or the listen address) + `/mcp`.",
      }),
    ),
    resourceName: Type.Optional(Type.String({ maxLength: 200, default: 'Gatehouse' })),
    issuers: Type.Optional(
      Type.Array(
        Type.Object(
          {
            issuer: Type.String({
              format: 'uri',
              pattern: '^https?://',
              description: 'Exactly as in the tokens `iss` (https; http only on loopback).',
            }),
            jwksUri: Type.Optional(
              Type.String({
                format: 'uri',
                pattern: '^https?://',
                description: 'Default: discovered from the issuer metadata.',
              }),
            ),
            algorithms: Type.Optional(
              Type.Array(
                Type.Union(
                  ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'].map((a) =>
                    Type.Literal(a),
                  ),
                ),
                {
                  minItems: 1,
                  description:
                    'Default: RS256, PS256, ES256, EdDSA. Only asymmetric algorithms: HS* and `none` are refused.',
                },
              ),
            ),
            tenant: Type.Optional(
              Type.String({
                pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
                description:
                  'Tokens of this issuer act for this tenant only; a tenant claim naming another is refused.',
              }),
            ),
            tenants: Type.Optional(
              Type.Array(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }), {
                minItems: 1,
                description:
                  'Tokens of this issuer name their tenant in the tenant claim, and it must be one of these.',
              }),
            ),
            platform: Type.Optional(
              Type.Boolean({
                description: 'Tokens of this issuer may act for any tenant, and its admins are platform admins.',
              }),
            ),
            maxTokenLifetimeSec: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 31_536_000,
                description:
                  'The longest lifetime a token of this issuer may claim. Default: identity.maxTokenLifetimeSec.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { default: [], description: 'OpenID / OAuth authorization servers whose JWT access tokens are accepted.' },
      ),
    ),
    introspection: Type.Optional(
      Type.Object(
        {
          url: Type.String({ format: 'uri', pattern: '^https?://' }),
          clientId: Type.String({ minLength: 1 }),
          // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
          clientSecret: Type.String({ minLength: 1, description: 'Use ${VAR}.' }),
        },
        { additionalProperties: false, description: 'RFC 7662 introspection for opaque (non-JWT) tokens.' },
      ),
    ),
    claims: Type.Optional(
      Type.Object(
        {
          tenant: Type.Optional(Type.String({ minLength: 1, default: 'tenant' })),
          roles: Type.Optional(
            Type.String({ minLength: 1, default: 'roles', description: 'Dotted path, e.g. `realm_access.roles`.' }),
          ),
          clientId: Type.Optional(Type.String({ minLength: 1, default: 'client_id' })),
        },
        { additionalProperties: false, default: {} },
      ),
    ),
    defaultTenant: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
        description: 'Tenant for tokens without the tenant claim. Unset: such tokens are refused.',
      }),
    ),
    requiredScopes: Type.Optional(
      Type.Object(
        {
          mcp: Type.Optional(Scopes),
          READ: Type.Optional(Scopes),
          WRITE: Type.Optional(Scopes),
          DESTRUCTIVE: Type.Optional(Scopes),
        },
        {
          additionalProperties: false,
          default: {},
          description: 'Scopes a token must carry: `mcp` for any MCP request, and per tool class for tools/call.',
        },
      ),
    ),
    adminRoles: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        default: ['gatehouse-admin'],
        description:
          'Roles that may use the admin API for their own tenant (from a platform issuer: for every tenant).',
      }),
    ),
    platformAdminRoles: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        default: ['gatehouse-platform-admin'],
        description:
          'Roles that make a platform admin (every tenant), honoured only from a platform issuer or an API key.',
      }),
    ),
    apiKeys: Type.Optional(
      Type.Boolean({ default: true, description: 'Accept API keys made with `gatehouse keys create`.' }),
    ),
    clockToleranceSec: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 300,
        default: 30,
        description: 'How far the clocks of issuers and gateway may disagree, for `exp`, `nbf` and `iat`.',
      }),
    ),
    maxTokenLifetimeSec: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 31_536_000,
        default: 86_400,
        description:
          'JWTs claiming a longer lifetime (exp - iat, or exp - now without iat) are refused; an issuer may set its own.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Who may call: OAuth 2.1 access tokens and API keys. When set, every caller must authenticate.',
  },
);

const Capture = Type.Union([Type.Literal('none'), Type.Literal('shape'), Type.Literal('redacted')]);

const ExportCommon = {
  name: Type.String({
    pattern: '^[a-z0-9][a-z0-9_-]{0,47}$',
    description: 'Names the export and its persisted cursor.',
  }),
};

const AuditExport = Type.Union([
  Type.Object(
    {
      ...ExportCommon,
      type: Type.Literal('file'),
      dir: Type.Optional(
        Type.String({ default: 'audit-export', description: 'JSON Lines files, relative to the state directory.' }),
      ),
      maxBytes: Type.Optional(Type.Integer({ minimum: 1024, default: 104_857_600 })),
      daily: Type.Optional(Type.Boolean({ default: true })),
      maxFiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 30 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...ExportCommon,
      type: Type.Literal('http'),
      url: Type.String({ format: 'uri', pattern: '^https?://' }),
      format: Type.Union([Type.Literal('splunk-hec'), Type.Literal('elastic-bulk'), Type.Literal('otlp')]),
      headers: Type.Optional(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
        Type.Record(Type.String(), Type.String(), { description: 'e.g. Authorization: "Splunk ${HEC_TOKEN}"' }),
      ),
      index: Type.Optional(
        Type.String({ minLength: 1, description: 'elastic-bulk: the index (or data stream); splunk-hec: the index.' }),
      ),
      timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ...ExportCommon,
      type: Type.Literal('syslog'),
      host: Type.String({ minLength: 1 }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
      transport: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp' })),
      format: Type.Optional(Type.Union([Type.Literal('rfc5424'), Type.Literal('cef')], { default: 'rfc5424' })),
    },
    { additionalProperties: false },
  ),
]);

const AuditSettings = Type.Object(
  {
    arguments: Type.Optional({
      ...Capture,
      default: 'redacted',
      description:
        'What of the arguments is kept: nothing, their shape (types and sizes), or the values with secrets and PII removed.',
    }),
    results: Type.Optional({ ...Capture, default: 'shape', description: 'What of the results is kept.' }),
    redact: Type.Optional(
      Type.Object(
        {
          fields: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              default: [],
              description:
                'Key names whose values are removed wherever they appear (in addition to the built-in list: password, token, secret, ...).',
            }),
          ),
          paths: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              default: [],
              description: 'JSON paths removed: `$.arguments.email`, `$..ssn`, `$.items[*].card`.',
            }),
          ),
        },
        { additionalProperties: false, default: {} },
      ),
    ),
    retentionDays: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 36_500,
        default: 365,
        description:
          'Records older than this are pruned (0: keep forever); the chain stays verifiable through checkpoints.',
      }),
    ),
    exports: Type.Optional(
      Type.Array(AuditExport, {
        default: [],
        description:
          'Where records are sent, at least once, in order per stream (duplicates carry the same stream and seq).',
      }),
    ),
    checkpoints: Type.Optional(
      Type.Object(
        {
          everyRecords: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 1_000_000,
              description: 'A signed checkpoint after this many records. Default 1000.',
            }),
          ),
          everySeconds: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 86_400,
              description: 'Or this long after the first record not yet checkpointed. Default 60.',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'Signed checkpoints (Ed25519, key in the state directory) that let `gatehouse audit verify --checkpoints` detect cut and deleted streams.',
        },
      ),
    ),
    durability: Type.Optional(
      Type.Union([Type.Literal('process-crash'), Type.Literal('power-loss')], {
        default: 'process-crash',
        description:
          'What an acknowledged audit record survives. `process-crash` (default): the gateway process dying (SQLite WAL with synchronous=NORMAL, PostgreSQL synchronous_commit=off for audit writes); a power cut or OS crash may lose the last moments of records, never reorder or corrupt the chain. `power-loss`: also a power cut (every group commit is fsynced), at the cost of one fsync per batch.',
      }),
    ),
    readWhenUnavailable: Type.Optional(
      Type.Union([Type.Literal('refuse'), Type.Literal('allow')], {
        default: 'refuse',
        description:
          'READ calls when the audit store cannot write (WRITE and DESTRUCTIVE calls are always refused then).',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);

const PolicySettings = Type.Object(
  {
    files: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description:
        'Policy files (rules, resources, modes), relative to this file; compiled at load, errors at file:line; reloaded with the config. Test them with `gatehouse policy test`.',
    }),
    unknownTools: Type.Optional(
      Type.Union([Type.Literal('warn'), Type.Literal('error')], {
        description:
          'A rule naming a tool of a server that is not configured, or a mode (`modes:`) naming a server or tool that is not: a warning at load (`warn`, default) or a load error (`error`).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Who may call what: deny by default; WRITE and DESTRUCTIVE need approval unless a rule says otherwise.',
  },
);

const LimitsSettings = Type.Object(
  {
    rules: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' }),
          scope: Type.Union(
            [
              Type.Literal('principal'),
              Type.Literal('tool'),
              Type.Literal('principal_tool'),
              Type.Literal('tenant'),
              Type.Literal('tenant_tool'),
            ],
            {
              description:
                "Whose calls share a budget: each person's (`principal`), each person's per tool (`principal_tool`), each tenant's (`tenant`), each tenant's per tool (`tenant_tool`), or every tenant's calls of a tool together (`tool`: an upstream's own quota, which one tenant's calls can spend for all).",
            },
          ),
          tools: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              description: 'Namespaced tool globs (`*` any run of characters, `?` one); absent: every tool.',
            }),
          ),
          rate: Type.Optional(
            Type.Object(
              {
                points: Type.Integer({ minimum: 1, description: 'Calls refilled per `perSeconds`.' }),
                perSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 31_536_000 }),
                burst: Type.Optional(
                  Type.Integer({
                    minimum: 1,
                    description: 'Calls allowed back to back after idling. Default `points`.',
                  }),
                ),
              },
              { additionalProperties: false, description: 'A token bucket; one call costs one point.' },
            ),
          ),
          concurrency: Type.Optional(Type.Integer({ minimum: 1, description: 'Calls of this key in flight at once.' })),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    refusals: Type.Optional(
      Type.Object(
        {
          points: Type.Integer({ minimum: 1 }),
          perSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 31_536_000 }),
          burst: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        {
          additionalProperties: false,
          description:
            'Refused requests per principal (unknown or forbidden targets, bad arguments, denials): once spent, every request of the principal is refused until the bucket refills. Default 120 per 60 s.',
        },
      ),
    ),
    redis: Type.Optional(
      Type.Object(
        {
          url: Type.String({
            pattern: '^rediss?://',
            // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
            description: 'Shared by every replica: one budget. Use ${REDIS_URL}.',
          }),
          keyPrefix: Type.Optional(Type.String()),
          commandTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 10_000 })),
          leaseTtlMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
          fallbackDivisor: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 1000,
              description:
                'While Redis is unreachable each replica enforces the limits divided by this (set it to the number of replicas).',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Rate limits and concurrency caps per principal, tool, principal and tool, or tenant.',
  },
);

/** Rate limits and concurrency caps as written (rules checked further at load: unique ids, a rate or a cap each). */
export type LimitsConfig = Static<typeof LimitsSettings>;

const VaultAuth = Type.Union([
  Type.Object(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
    { method: Type.Literal('token'), token: Type.String({ minLength: 1, description: 'Use ${VAULT_TOKEN}.' }) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      method: Type.Literal('approle'),
      roleId: Type.String({ minLength: 1 }),
      secretId: Type.String({ minLength: 1 }),
      mount: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      method: Type.Literal('jwt'),
      role: Type.String({ minLength: 1 }),
      jwtFile: Type.String({ minLength: 1, description: 'Read at every login (a projected service-account token).' }),
      mount: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  ),
]);

const SecretsSettings = Type.Object(
  {
    cacheTtlSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 86_400,
        default: 60,
        description: 'How long a resolved secret is reused before it is read again (rotation is picked up then).',
      }),
    ),
    outbound: Type.Optional(
      Type.Union([Type.Literal('deny'), Type.Literal('approve'), Type.Literal('allow')], {
        description:
          "What happens to a request whose arguments carry a credential: any tenant's injected secret (in any encoding) or a well-known secret format (private keys, JWTs, cloud and API tokens). `deny` (default), `approve` (a tool call waits for a person; anything else is denied), or `allow`.",
      }),
    ),
    results: Type.Optional(
      Type.Union([Type.Literal('redact'), Type.Literal('pass')], {
        description:
          "Well-known secret formats in what upstreams say to the caller (results, errors, the progress and log messages of a call, and its sampling and elicitation requests, but for a URL elicitation's link): `redact` replaces them with markers before the caller sees them; `pass` (default) leaves them (injected secrets are always removed).",
      }),
    ),
    vault: Type.Optional(
      Type.Object(
        { address: Type.String({ format: 'uri' }), namespace: Type.Optional(Type.String()), auth: VaultAuth },
        { additionalProperties: false },
      ),
    ),
    aws: Type.Optional(
      Type.Object(
        {
          region: Type.String({ minLength: 1 }),
          endpoint: Type.Optional(Type.String({ format: 'uri' })),
          accessKeyId: Type.Optional(Type.String()),
          secretAccessKey: Type.Optional(Type.String()),
        },
        {
          additionalProperties: false,
          description: 'Without keys, the AWS SDK finds credentials itself (environment, profile, instance role).',
        },
      ),
    ),
    onepassword: Type.Optional(
      Type.Object(
        { host: Type.String({ format: 'uri' }), token: Type.String({ minLength: 1 }) },
        { additionalProperties: false, description: '1Password Connect.' },
      ),
    ),
    exec: Type.Optional(
      Type.Object(
        { timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })) },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Secrets managers for credential references; `local:` (the embedded encrypted store in the state directory) and `env:` need nothing here.',
  },
);

const ApprovalsSettings = Type.Object(
  {
    ttlSeconds: Type.Optional(
      Type.Integer({
        minimum: 30,
        maximum: 7 * 86_400,
        default: 3600,
        description: 'How long a request (and then its approval) stays usable.',
      }),
    ),
    waitSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        default: 0,
        description:
          'Legacy callers without URL elicitation: how long the call waits for the decision (with progress) before it returns the pending approval id.',
      }),
    ),
    maxPendingPerPrincipal: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 5 })),
    maxPendingPerTenant: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 100 })),
    baseUrl: Type.Optional(
      Type.String({
        format: 'uri',
        description:
          'Where approvers reach the gateway (links in pages, elicitations and webhooks). Default: publicUrl, else the listen address.',
      }),
    ),
    templates: Type.Optional(
      Type.Record(Type.String(), Type.String({ maxLength: 500 }), {
        description: 'Plain-language action per tool: `"Create issue {title} in {owner}/{repo}"`.',
      }),
    ),
    readTools: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description:
          'For a diff: the READ tool of the same server that reads the current content, e.g. files__write_file: files__read_text_file.',
      }),
    ),
    webhook: Type.Optional(
      Type.Object(
        {
          url: Type.String({ format: 'uri' }),
          secret: Type.String({ minLength: 16, description: 'HMAC-SHA256 key for x-gatehouse-signature.' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, default: {} },
);

const InventorySettings = Type.Object(
  {
    newTools: Type.Optional(
      Type.Union([Type.Literal('quarantine'), Type.Literal('accept')], {
        default: 'quarantine',
        description:
          'Tools that appear after a server was first catalogued: hidden until accepted, or accepted on first sight.',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);

const ConsoleSettings = Type.Object(
  {
    clientId: Type.Optional(
      Type.String({
        minLength: 1,
        description: "The console's OAuth client id at the identity provider (authorization code + PKCE).",
      }),
    ),
    clientSecret: Type.Optional(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
      Type.String({ minLength: 1, description: 'Use ${VAR}. Without it the console is a public client (PKCE only).' }),
    ),
    issuer: Type.Optional(
      Type.String({
        format: 'uri',
        pattern: '^https?://',
        description: 'Which of identity.issuers people sign in at with clientId. Default: the first.',
      }),
    ),
    logins: Type.Optional(
      Type.Array(
        Type.Object(
          {
            issuer: Type.String({ format: 'uri', pattern: '^https?://', description: 'One of identity.issuers.' }),
            clientId: Type.String({ minLength: 1 }),
            // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
            clientSecret: Type.Optional(Type.String({ minLength: 1, description: 'Use ${VAR}.' })),
            label: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 100,
                description: 'The sign-in button says "Sign in with <label>".',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        {
          description: 'More identity providers people may sign in at (a platform issuer beside tenant issuers, say).',
        },
      ),
    ),
    redirectPath: Type.Optional(
      Type.String({
        pattern: '^/console/[A-Za-z0-9/_-]*$',
        default: '/console/callback',
        description:
          'Where the provider sends people back; register publicUrl + this path. With several logins, each has its own: this path + `/1`, `/2`, ... in the order listed.',
      }),
    ),
    sessionHours: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 24,
        default: 8,
        description: 'A console session ends after this, or when its access token expires, whichever is first.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'The operator console at /console/: people sign in with OpenID Connect; roles as in the admin API.',
  },
);

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    version: Type.Literal(1, { description: 'Configuration format version.' }),
    gateway: Type.Optional(Gateway),
    storage: Type.Optional(Storage),
    inventory: Type.Optional(InventorySettings),
    identity: Type.Optional(Identity),
    audit: Type.Optional(AuditSettings),
    policy: Type.Optional(PolicySettings),
    secrets: Type.Optional(SecretsSettings),
    approvals: Type.Optional(ApprovalsSettings),
    limits: Type.Optional(LimitsSettings),
    console: Type.Optional(ConsoleSettings),
    servers: Type.Array(Server, { default: [] }),
  },
  {
    additionalProperties: false,
    $id: 'https://gatehouse.dev/schema/gatehouse.schema.json',
    title: 'Gatehouse configuration',
  },
);

export type StdioServerConfig = Static<typeof StdioServer>;
export type HttpServerConfig = Static<typeof HttpServer>;
export type ServerConfig = Static<typeof Server>;
export type RawConfig = Static<typeof ConfigSchema>;

/** The configuration after loading: defaults filled, paths absolute. */
export interface Config {
  /** Absolute path of the file it came from (or '<memory>'). */
  source: string;
  gateway: Required<Omit<Static<typeof Gateway>, 'publicUrl' | 'metricsToken'>> & {
    publicUrl?: string;
    metricsToken?: string;
    listen: Required<Static<typeof Listen>>;
  };
  storage: { driver: 'sqlite' | 'postgres'; sqlitePath: string; postgresUrl?: string; queryTimeoutMs?: number };
  inventory: Required<Static<typeof InventorySettings>>;
  audit: AuditConfig;
  /** Absent: no policy engine (every call is allowed, and `gatehouse check` says so). */
  policy?: { files: string[]; compiled: Policy };
  limits?: LimitsConfig;
  secrets: Static<typeof SecretsSettings> & { cacheTtlSeconds: number };
  approvals: Static<typeof ApprovalsSettings> & {
    ttlSeconds: number;
    waitSeconds: number;
    maxPendingPerPrincipal: number;
  };
  /** Absent: no identity provider (loopback-only anonymous access, if allowed). */
  identity?: IdentityConfig;
  /** Absent: no operator console. */
  console?: Static<typeof ConsoleSettings> & { redirectPath: string; sessionHours: number };
  servers: Array<ServerConfig & { timeouts: Required<Static<typeof Timeouts>> }>;
}

export type IdentityConfig = Omit<
  Required<Static<typeof Identity>>,
  'introspection' | 'defaultTenant' | 'claims' | 'requiredScopes'
> & {
  introspection?: Static<typeof Identity>['introspection'];
  defaultTenant?: string;
  claims: { tenant: string; roles: string; clientId: string };
  requiredScopes: { mcp?: string[]; READ?: string[]; WRITE?: string[]; DESTRUCTIVE?: string[] };
  /** The resource was not configured: it was taken from the listen address. */
  resourceFromListen?: boolean;
};

export type AuditExportConfig = Static<typeof AuditExport>;
export type AuditConfig = Omit<Required<Static<typeof AuditSettings>>, 'redact' | 'exports'> & {
  redact: { fields: string[]; paths: string[] };
  exports: AuditExportConfig[];
};
