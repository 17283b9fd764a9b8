// Writes the JSON Schemas from their TypeBox sources: schema/gatehouse.schema.json (the config,
// src/config/schema.ts) and schema/audit-event.schema.json (the audit record, src/audit/event-schema.ts).
// `npm run schema`; tests fail when a committed file drifts. It also writes the config's validators
// (src/config/validators.generated.cjs) from the config's schema.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSchema } from '../src/config/json-schema.ts';
import { renderAuditSchema } from '../src/audit/event-schema.ts';
import { validatorsSource } from '../src/config/validators-source.ts';

for (const [file, text] of [
  ['gatehouse.schema.json', renderSchema()],
  ['audit-event.schema.json', renderAuditSchema()],
] as const) {
  const out = join(import.meta.dirname, '..', 'schema', file);
  writeFileSync(out, text);
  process.stdout.write(`wrote ${out}\n`);
}
// The config's validators, compiled once here instead of at every start.
const validators = join(import.meta.dirname, '..', 'src', 'config', 'validators.generated.cjs');
writeFileSync(validators, validatorsSource(JSON.parse(renderSchema())));
process.stdout.write(`wrote ${validators}\n`);
