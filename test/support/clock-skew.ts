/**
 * A child process whose wall clock is off by a given amount, as a replica on a machine without NTP
 * would have it: a preload that shifts `Date` (monotonic clocks, and PostgreSQL's, stay as they are).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const SKEW_PRELOAD = `const skew = Number(process.env.GATEHOUSE_TEST_SKEW_MS || 0);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
class SkewDate extends RealDate {
  constructor(...a) { if (a.length === 0) super(realNow() + skew); else super(...a); }
  static now() { return realNow() + skew; }
}
globalThis.Date = SkewDate;
`;

/** The environment of a child whose `Date` is `skewMs` ahead (behind when negative); the preload is written into `dir`. */
export function skewedClockEnv(dir: string, skewMs: number): Record<string, string> {
  const preload = join(dir, 'skew.mjs');
  writeFileSync(preload, SKEW_PRELOAD);
  return { NODE_OPTIONS: `--import ${pathToFileURL(preload).href}`, GATEHOUSE_TEST_SKEW_MS: String(skewMs) };
}
