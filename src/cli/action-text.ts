/**
 * An incident action's detail as `incident status` prints it for people: `key: value; …` on the
 * action's line, moments as ISO 8601 by the rule `--json` and the admin API follow (util/iso-times.ts),
 * lists and nested records in words rather than raw JSON, every text kept on its line (util/marks.ts).
 */
import { isoTime } from '../util/iso-times.ts';
import { oneLine } from '../util/marks.ts';

function valueText(v: unknown, key: string): string {
  const t = isoTime(key, v);
  if (t === null || t === undefined) return 'none';
  if (Array.isArray(t)) return t.length ? t.map((x) => valueText(x, '')).join(', ') : 'none';
  if (typeof t === 'object') return `(${fields(t as Record<string, unknown>).join(', ')})`;
  return oneLine(String(t));
}

const fields = (o: Record<string, unknown>): string[] => Object.entries(o).map(([k, v]) => `${k}: ${valueText(v, k)}`);

/** `{"at": 1796645330506, "servers": ["s"]}` as `at: 2026-12-07T…Z; servers: s`. */
export function actionDetailText(detail: Record<string, unknown>): string {
  return fields(detail).join('; ');
}
