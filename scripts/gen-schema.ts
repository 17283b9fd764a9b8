// Writes schema/gatehouse.schema.json from the TypeBox schema (src/config/schema.ts): the JSON Schema
// and the TypeScript types have one source. `npm run schema`; a test fails when the file drifts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSchema } from '../src/config/json-schema.ts';

const out = join(import.meta.dirname, '..', 'schema', 'gatehouse.schema.json');
writeFileSync(out, renderSchema());
process.stdout.write(`wrote ${out}\n`);
