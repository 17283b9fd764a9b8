/** The configuration schema of `servers:` (stdio and HTTP upstreams: timeouts, credentials, sandbox, upstream OAuth). */
import { Type } from '@sinclair/typebox';
import { ALLOW_ENTRY_PATTERN } from '../../util/allow-entry.ts';
import { Name, Env, MiB } from './common.ts';

export const Timeouts = Type.Object(
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
                  "`host:port` (or `*.domain:port`) the server may connect to, through the gateway's egress proxy; names resolving to private, loopback, link-local or metadata addresses are refused (an internal address is allowed only when written here as a literal; metadata addresses never are; a loopback one only with `allowLoopback`).",
              }),
              allowLoopback: Type.Optional(
                Type.Boolean({
                  default: false,
                  description:
                    "Lets a literal loopback entry (`127.0.0.1:PORT`, `[::1]:PORT`, `0.0.0.0:PORT`) or an address of this machine through: it reaches whatever listens on that port here (another gateway, a database, an admin port), so it is refused unless set. The gateway's own listener, database and Redis are refused even then.",
                }),
              ),
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

export const StdioServer = Type.Object(
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

export const HttpServer = Type.Object(
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

export const Server = Type.Union([StdioServer, HttpServer]);
