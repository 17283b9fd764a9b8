/** The configuration schema of `identity:` (identity providers, API keys, scopes, claims). */
import { Type } from '@sinclair/typebox';

const Scopes = Type.Array(Type.String({ minLength: 1 }), {
  description: 'OAuth scope values (RFC 6749 scope-tokens: printable ASCII, no space, quote or backslash).',
});

export const Identity = Type.Object(
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
