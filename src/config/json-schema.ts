/** The configuration's JSON Schema as committed in schema/gatehouse.schema.json. */
import { ConfigSchema } from './schema.ts';

export function renderSchema(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(ConfigSchema)) };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
