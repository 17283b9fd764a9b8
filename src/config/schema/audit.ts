/** The configuration schema of `audit:` (what is kept, redaction, retention, exports). */
import { Type } from '@sinclair/typebox';

const Capture = Type.Union([Type.Literal('none'), Type.Literal('shape'), Type.Literal('redacted')]);

const ExportCommon = {
  name: Type.String({
    pattern: '^[a-z0-9][a-z0-9_-]{0,47}$',
    description: 'Names the export and its persisted cursor.',
  }),
};

export const AuditExport = Type.Union([
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

export const AuditSettings = Type.Object(
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
