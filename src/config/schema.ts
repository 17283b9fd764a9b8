/**
 * The configuration schema: one source for the TypeScript types (Static<>) and the JSON Schema
 * committed as schema/gatehouse.schema.json (`npm run schema`). Defaults are filled in by the loader.
 * Each section's schema is in its own module under ./schema/.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Policy } from '../policy/model.ts';
import { type Timeouts, type StdioServer, type HttpServer, Server } from './schema/servers.ts';
import { type Listen, Gateway, Storage } from './schema/gateway.ts';
import { Identity } from './schema/identity.ts';
import { type AuditExport, AuditSettings } from './schema/audit.ts';
import {
  PolicySettings,
  LimitsSettings,
  SecretsSettings,
  ApprovalsSettings,
  InventorySettings,
  ConsoleSettings,
  type LimitsConfig,
} from './schema/settings.ts';

export type { LimitsConfig };

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
  gateway: Required<Omit<Static<typeof Gateway>, 'publicUrl' | 'metricsToken' | 'reloadMayWeaken'>> & {
    publicUrl?: string;
    metricsToken?: string;
    /** Read at reload only (src/config/weakening.ts). */
    reloadMayWeaken?: Static<typeof Gateway>['reloadMayWeaken'];
    listen: Required<Static<typeof Listen>>;
  };
  storage: { driver: 'sqlite' | 'postgres'; sqlitePath: string; postgresUrl?: string; queryTimeoutMs?: number };
  inventory: Required<Static<typeof InventorySettings>>;
  audit: AuditConfig;
  /** Absent: no policy engine (every call is allowed, and `gatehouse check` says so). */
  policy?: {
    files: string[];
    compiled: Policy /** As written (compared at reload: ./weakening-policy.ts). */;
    unknownTools?: 'warn' | 'error';
  };
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
  /** Paths of connection URLs (`storage.postgresUrl`) whose password is written in the file, not a `${VAR}` reference. */
  literalPasswords?: string[];
  /** Paths of webhook signing keys (`servers[0].contact.webhook.secret`) written in the file, not a `${VAR}` reference. */
  literalKeys?: string[];
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
