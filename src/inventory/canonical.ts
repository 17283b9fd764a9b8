/**
 * Pins: SHA-256 over the RFC 8785 (JCS) canonical JSON of what a client is shown, so that the same
 * definition always hashes the same, whatever key order or number spelling the upstream used. A lone
 * UTF-16 surrogate, which RFC 8785 cannot encode, is shown (and so pinned) as U+FFFD; the scan marks
 * the definition (`unpaired-surrogate`), so it is held for review.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { sha256 } from '../util/sha256.ts';
import { loneSurrogateAt, wellFormed } from '../util/well-formed.ts';

/** Canonical JSON refuses a lone surrogate: only a definition it refuses is walked (ADR 0014). */
function pinOf(v: unknown): string {
  let text: string;
  try {
    text = canonicalJson(v);
  } catch (err) {
    if (loneSurrogateAt(v) === undefined) throw err;
    text = canonicalJson(wellFormed(v));
  }
  return `sha256:${sha256(text)}`;
}

/**
 * The fields of a tool a client sees and a model or host reads: every one of them is pinned. `_meta`
 * and `icons` since 2026-12-06 (hosts act on `_meta`: an app's UI resource): a change there after
 * acceptance is a rug pull like any other.
 */
const TOOL_FIELDS = [
  'name',
  'title',
  'description',
  'inputSchema',
  'outputSchema',
  'annotations',
  'execution',
  '_meta',
  'icons',
] as const;

/** The fields pinned before `_meta` and `icons` were: an accepted pin of that kind is upgraded, not a change. */
const LEGACY_TOOL_FIELDS = TOOL_FIELDS.slice(0, 7);

function pick(def: JsonObject, fields: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const f of fields) if (def[f] !== undefined) out[f] = def[f];
  return out;
}

/** The part of a tool definition that is pinned (fields the upstream did not send are left out). */
export function pinnedPart(def: JsonObject): JsonObject {
  return pick(def, TOOL_FIELDS);
}

/** `sha256:<hex>` of a tool's pinned part. */
export function toolPin(def: JsonObject): string {
  return pinOf(pinnedPart(def));
}

/** The pin a tool had before `_meta` and `icons` were pinned. */
export function legacyToolPin(def: JsonObject): string {
  return pinOf(pick(def, LEGACY_TOOL_FIELDS));
}

/** `sha256:<hex>` of a server's instructions (absent instructions pin as the empty string). */
export function instructionsPin(instructions: string | undefined): string {
  return pinOf(instructions ?? '');
}

/**
 * `sha256:<hex>` of a prompt, resource or template as clients see it: everything but `_meta` and what
 * changes with the data rather than the definition (a resource's size and last-modified time).
 */
export function itemPin(def: JsonObject): string {
  const { _meta: _m, size: _s, ...rest } = def;
  const ann = rest.annotations as JsonObject | undefined;
  if (ann && typeof ann === 'object' && 'lastModified' in ann) {
    const { lastModified: _l, ...a } = ann;
    rest.annotations = a;
  }
  return pinOf(rest);
}
