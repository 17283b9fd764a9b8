/** The configuration schema of `policy:`, `limits:`, `secrets:`, `approvals:`, `inventory:` and `console:`. */
import { Type, type Static } from '@sinclair/typebox';

export const PolicySettings = Type.Object(
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

export const LimitsSettings = Type.Object(
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

export const SecretsSettings = Type.Object(
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
          "What happens to a request whose arguments carry a credential: any tenant's injected secret (raw or in an encoding it recognises: base64, hex, UTF-16, percent, JSON, \\u/\\x and HTML escapes, look-alike letters; not compression or base64 twice) or a well-known secret format (private keys, JWTs, cloud and API tokens). `deny` (default), `approve` (a tool call waits for a person; anything else is denied), or `allow`.",
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

export const ApprovalsSettings = Type.Object(
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

export const InventorySettings = Type.Object(
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

export const ConsoleSettings = Type.Object(
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
