/**
 * The audit record's JSON Schema (schema/audit-event.schema.json, `npm run schema`), checked against
 * the TypeScript type by a test that validates real records with it.
 */
import { Type } from '@sinclair/typebox';

const Str = (description?: string) => Type.Optional(Type.String(description ? { description } : {}));

const AuditEventSchema = Type.Object(
  {
    v: Type.Literal(1, { description: 'Schema version.' }),
    id: Type.String({ description: 'Unique id of the record.' }),
    time: Type.String({ format: 'date-time', description: 'UTC, milliseconds.' }),
    stream: Type.String({ description: 'The writer: one gateway process or one CLI invocation.' }),
    seq: Type.Integer({ minimum: 1, description: 'Position in the stream, from 1, without gaps.' }),
    prev: Type.String({
      pattern: '^[0-9a-f]{64}$',
      description: "The previous record's hash (64 zeros for the first).",
    }),
    hash: Type.String({
      pattern: '^[0-9a-f]{64}$',
      description: 'SHA-256 of prev, a newline, and the RFC 8785 JSON of the record without hash.',
    }),
    kind: Type.Union(
      [
        'call.intent',
        'call.outcome',
        'call.refused',
        'call.unknown',
        'inventory.event',
        'config.reloaded',
        'approval.event',
        'admin.action',
        'stream.opened',
        'stream.closed',
        'audit.pruned',
        'audit.replayed',
        'egress.refused',
        'sandbox.refused',
        'upstream.circuit',
        'audit.resumed',
        'audit.checkpoint',
      ].map((k) => Type.Literal(k)),
    ),
    requestId: Str('The JSON-RPC id of the request.'),
    sessionId: Str('The legacy session.'),
    runId: Str('The run: the session, the caller\'s `_meta["io.gatehouse/run"]` label, or the trace id.'),
    traceId: Str(),
    actor: Type.Optional(
      Type.Object(
        { subject: Type.String(), tenant: Type.String(), via: Type.String(), issuer: Type.String() },
        { description: 'The verified principal.' },
      ),
    ),
    client: Str('The OAuth client or API key name.'),
    server: Str(),
    method: Str(
      'The MCP method of a call record (tools/call, resources/read, prompts/get, completion/complete, tasks/*).',
    ),
    tool: Str('Namespaced tool or prompt name, or namespaced resource URI.'),
    class: Type.Optional(Type.Union([Type.Literal('READ'), Type.Literal('WRITE'), Type.Literal('DESTRUCTIVE')])),
    pin: Str("The tool definition's pin when the call was made."),
    resources: Type.Optional(Type.Array(Type.String())),
    decision: Type.Optional(
      Type.Object({
        effect: Type.String(),
        rule: Type.String(),
        reasons: Type.Array(Type.String()),
        policyRevision: Str(),
      }),
    ),
    approval: Type.Optional(
      Type.Object({ status: Type.String(), id: Str(), approvers: Type.Optional(Type.Array(Type.String())) }),
    ),
    outcome: Type.Optional(
      Type.Union(
        ['ok', 'tool_error', 'error', 'refused', 'input_required', 'unknown', 'shadow'].map((k) => Type.Literal(k)),
      ),
    ),
    error: Str('E_* code of a refusal or failure.'),
    stage: Str('The pipeline stage that refused.'),
    latencyMs: Type.Optional(Type.Number({ minimum: 0 })),
    argsHash: Type.Optional(
      Type.String({ pattern: '^sha256:[0-9a-f]{64}$', description: 'SHA-256 of the RFC 8785 JSON of the arguments.' }),
    ),
    args: Type.Optional(Type.Unknown({ description: 'As configured: absent, shape, or redacted values.' })),
    result: Type.Optional(Type.Unknown({ description: 'As configured: absent, shape, or redacted values.' })),
    intent: Str('For outcome and unknown records: the intent they close.'),
    detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    withheld: Type.Optional(Type.Boolean({ description: 'Redaction failed or hit a limit: the value was withheld.' })),
  },
  {
    additionalProperties: false,
    $id: 'https://gatehouse.dev/schema/audit-event.schema.json',
    title: 'Gatehouse audit record',
  },
);

export function renderAuditSchema(): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(AuditEventSchema)) }, null, 2)}\n`;
}
