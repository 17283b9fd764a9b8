/**
 * Limits configuration: rate limits and concurrency caps, per principal, per tool, per
 * principal and tool, and per tenant. A plain type plus a validator that returns every issue with its
 * key path, so the lead can fold it into the config loader (which adds file/line/column). Messages
 * never echo values: they may have come from the environment.
 *
 * Rate semantics: a token bucket. `points` calls are refilled per `perSeconds` (the sustained rate);
 * `burst` is the bucket's capacity, i.e. how many calls may go back to back after an idle period
 * (default: `points`). One call costs one point.
 */
import { globRegExp } from '../policy/glob.ts';

export type LimitScope = 'principal' | 'tool' | 'principal_tool' | 'tenant';
const LIMIT_SCOPES: readonly LimitScope[] = ['principal', 'tool', 'principal_tool', 'tenant'];

export interface RateSpec {
  /** Calls refilled per `perSeconds` (the sustained rate). */
  points: number;
  perSeconds: number;
  /** Bucket capacity: calls allowed back to back after idling. Default `points`. */
  burst?: number;
}

export interface LimitRule {
  /** Unique among the rules; named in refusals. */
  id: string;
  scope: LimitScope;
  /** Namespaced tool globs (`github__*`); `*` any run of characters, `?` one. Absent: every tool. */
  tools?: string[];
  rate?: RateSpec;
  /** Calls of this key in flight at once. */
  concurrency?: number;
}

interface RedisLimitsConfig {
  url: string;
  /** Prefix of every Redis key; default `gatehouse:limits:`. */
  keyPrefix?: string;
  /** Per-command timeout (ms); default 200. A hung Redis must not hang calls. */
  commandTimeoutMs?: number;
  /** A concurrency lease lives this long unless renewed (ms); default 30000. */
  leaseTtlMs?: number;
  /**
   * While Redis is unreachable each replica enforces its rules divided by this: set it to the
   * expected number of replicas so together they stay within the shared budget. Default 2 (Redis is
   * configured because there are several replicas; 1 would be the least strict guess).
   */
  fallbackDivisor?: number;
}

export interface LimitsConfig {
  rules: LimitRule[];
  /**
   * Refused requests (unknown or forbidden targets, bad arguments, policy denials) per principal: a
   * separate bucket, so probing costs something. When it is empty every request of the principal is
   * refused until it refills. Default 120 per 60 s.
   */
  refusals?: RateSpec;
  /** Absent: one process, in-memory limits. */
  redis?: RedisLimitsConfig;
}

export interface LimitsIssue {
  /** Key path, e.g. `limits.rules[2].rate.points`. */
  path: string;
  message: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const RULE_KEYS = ['id', 'scope', 'tools', 'rate', 'concurrency'];
const RATE_KEYS = ['points', 'perSeconds', 'burst'];
const REDIS_KEYS = ['url', 'keyPrefix', 'commandTimeoutMs', 'leaseTtlMs', 'fallbackDivisor'];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const posInt = (v: unknown, max = 1e9): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;

/** Every problem in a `limits` section (empty when it is valid). */
export function validateLimits(value: unknown, path = 'limits'): LimitsIssue[] {
  const issues: LimitsIssue[] = [];
  const add = (p: string, message: string) => issues.push({ path: p, message });
  const unknownKeys = (o: Record<string, unknown>, allowed: string[], p: string) => {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) add(`${p}.${k}`, `unknown key (allowed: ${allowed.join(', ')})`);
  };
  if (!isObj(value)) return [{ path, message: 'must be an object' }];
  unknownKeys(value, ['rules', 'redis', 'refusals'], path);
  if (value.refusals !== undefined) {
    const r = value.refusals;
    if (!isObj(r)) add(`${path}.refusals`, 'must be an object');
    else {
      unknownKeys(r, ['points', 'perSeconds', 'burst'], `${path}.refusals`);
      if (!posInt(r.points, 1_000_000)) add(`${path}.refusals.points`, 'must be an integer from 1 to 1000000');
      if (typeof r.perSeconds !== 'number' || !(r.perSeconds > 0))
        add(`${path}.refusals.perSeconds`, 'must be a number above 0');
      if (r.burst !== undefined && !posInt(r.burst, 1_000_000))
        add(`${path}.refusals.burst`, 'must be an integer from 1 to 1000000');
    }
  }
  if (!Array.isArray(value.rules)) add(`${path}.rules`, 'must be a list of rules');
  else {
    const seen = new Map<string, number>();
    for (const [i, rule] of value.rules.entries()) validateRule(rule, `${path}.rules[${i}]`, i, seen, add, unknownKeys);
  }
  if (value.redis !== undefined) {
    const r = value.redis;
    const p = `${path}.redis`;
    if (!isObj(r)) add(p, 'must be an object');
    else {
      unknownKeys(r, REDIS_KEYS, p);
      if (typeof r.url !== 'string' || !/^rediss?:\/\//.test(r.url))
        add(`${p}.url`, 'must be a redis:// or rediss:// URL');
      if (r.keyPrefix !== undefined && (typeof r.keyPrefix !== 'string' || r.keyPrefix === ''))
        add(`${p}.keyPrefix`, 'must be a non-empty string');
      if (r.commandTimeoutMs !== undefined && !posInt(r.commandTimeoutMs, 60_000))
        add(`${p}.commandTimeoutMs`, 'must be an integer from 1 to 60000');
      if (r.leaseTtlMs !== undefined && !(posInt(r.leaseTtlMs, 86_400_000) && (r.leaseTtlMs as number) >= 100))
        add(`${p}.leaseTtlMs`, 'must be an integer from 100 to 86400000');
      if (r.fallbackDivisor !== undefined && !posInt(r.fallbackDivisor, 10_000))
        add(`${p}.fallbackDivisor`, 'must be an integer from 1 to 10000');
    }
  }
  return issues;
}

function validateRule(
  rule: unknown,
  p: string,
  i: number,
  seen: Map<string, number>,
  add: (p: string, m: string) => void,
  unknownKeys: (o: Record<string, unknown>, allowed: string[], p: string) => void,
): void {
  if (!isObj(rule)) {
    add(p, 'must be an object');
    return;
  }
  unknownKeys(rule, RULE_KEYS, p);
  if (typeof rule.id !== 'string' || !ID.test(rule.id))
    add(`${p}.id`, 'must be 1-128 characters: letters, digits, `_ . : -`, starting with a letter or digit');
  else if (seen.has(rule.id)) add(`${p}.id`, `duplicate rule id (first at rules[${seen.get(rule.id)}])`);
  else seen.set(rule.id, i);
  if (!LIMIT_SCOPES.includes(rule.scope as LimitScope)) add(`${p}.scope`, `must be one of ${LIMIT_SCOPES.join(', ')}`);
  if (rule.tools !== undefined) {
    if (!Array.isArray(rule.tools) || rule.tools.length === 0)
      add(`${p}.tools`, 'must be a non-empty list of tool globs');
    else
      rule.tools.forEach((g, j) => {
        if (typeof g !== 'string' || g === '') add(`${p}.tools[${j}]`, 'must be a non-empty string');
      });
  }
  if (rule.rate === undefined && rule.concurrency === undefined) add(p, 'needs `rate`, `concurrency` or both');
  if (rule.concurrency !== undefined && !posInt(rule.concurrency, 1e6))
    add(`${p}.concurrency`, 'must be an integer from 1 to 1000000');
  if (rule.rate !== undefined) {
    const r = rule.rate;
    if (!isObj(r)) {
      add(`${p}.rate`, 'must be an object with `points` and `perSeconds`');
      return;
    }
    unknownKeys(r, RATE_KEYS, `${p}.rate`);
    if (!posInt(r.points)) add(`${p}.rate.points`, 'must be a positive integer');
    if (typeof r.perSeconds !== 'number' || !(r.perSeconds > 0) || r.perSeconds > 31_536_000)
      add(`${p}.rate.perSeconds`, 'must be a number above 0 and at most 31536000 (a year)');
    if (r.burst !== undefined && !posInt(r.burst)) add(`${p}.rate.burst`, 'must be a positive integer');
  }
}

/**
 * A tool glob as a RegExp: `*` any run of characters, `?` exactly one; everything else literal. The
 * same globs as policy's, matched the same way (without backtracking: `a*a*a*…*b` from config
 * against a long name would otherwise take polynomial time with the number of stars).
 */
export function globToRegExp(glob: string): RegExp {
  return globRegExp(glob);
}
