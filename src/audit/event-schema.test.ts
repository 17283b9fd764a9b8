import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { renderAuditSchema } from './event-schema.ts';
import { AuditLog } from './log.ts';
import type { AuditEvent } from '../model/audit-event.ts';

test('the committed audit record schema is what the generator writes (npm run schema)', () => {
  assert.equal(
    readFileSync(join(import.meta.dirname, '../../schema/audit-event.schema.json'), 'utf8'),
    renderAuditSchema(),
  );
});

test('records the log writes validate against the schema; an unknown field does not', async () => {
  const written: AuditEvent[] = [];
  const store = { appendBatch: async (es: AuditEvent[]) => void written.push(...es) } as never;
  const log = new AuditLog(store, 'host/gw/1');
  await log.append({
    kind: 'call.intent',
    actor: { subject: 's', tenant: 't', via: 'jwt', issuer: 'https://i' },
    tool: 'a__b',
    class: 'WRITE',
    argsHash: `sha256:${'a'.repeat(64)}`,
    args: { x: 1 },
  });
  await log.append({ kind: 'call.outcome', intent: written[0].id, outcome: 'ok', latencyMs: 1.5 });
  const ajv = new Ajv({ strict: false });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  const validate = ajv.compile(JSON.parse(renderAuditSchema()));
  for (const e of written) assert.ok(validate(e), JSON.stringify(validate.errors));
  assert.equal(validate({ ...written[0], extra: 1 }), false);
});
