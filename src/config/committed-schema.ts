/**
 * The configuration's JSON Schema as committed in schema/gatehouse.schema.json, read at load: the
 * loader validates against it (filling its defaults), so a gateway never builds the schema with
 * TypeBox at start. `npm run schema` writes the file from src/config/schema.ts, and
 * src/config/load.test.ts fails when the two differ.
 */
import { readFileSync } from 'node:fs';

type Obj = Record<string, unknown>;

/** The same path from src/config (TypeScript) and dist/config (the package ships `schema/`). */
const FILE = new URL('../../schema/gatehouse.schema.json', import.meta.url);

export const CONFIG_SCHEMA = JSON.parse(readFileSync(FILE, 'utf8')) as Obj & { properties: Obj };

const variants = ((CONFIG_SCHEMA.properties.servers as Obj).items as { anyOf: Obj[] }).anyOf;

/** A server's schema by its transport: `stdio`, or `http` (which `sse` shares). */
export function serverSchema(transport: 'stdio' | 'http'): Obj {
  const found = variants.find((v) => {
    const t = ((v.properties as Obj).transport ?? {}) as { const?: unknown; anyOf?: Array<{ const?: unknown }> };
    return t.const === transport || Boolean(t.anyOf?.some((x) => x.const === transport));
  });
  if (!found) throw new Error(`schema/gatehouse.schema.json has no server variant for \`${transport}\``);
  return found;
}

/** The default state directory (gateway.stateDir). */
export const DEFAULT_STATE_DIR = (
  ((CONFIG_SCHEMA.properties.gateway as Obj).properties as Obj).stateDir as { default: string }
).default;
