/**
 * Canonical forms of resource values, one function per kind. Pure (except `resolveRealPath`, which
 * is separate on purpose). Each returns the canonical value and whether it differs from what the
 * caller sent; what is refused outright is what no canonical form can make safe (traversal, hidden
 * characters, mixed scripts, credentials in URLs, the wrong type). Whether a *changed* value is then
 * refused is the extractor's decision (resources.ts): the policy must judge exactly what goes upstream.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { dirname, normalize } from 'node:path';

export type Canon = { ok: true; value: string; changed: boolean } | { ok: false; reason: string };

const fail = (reason: string): Canon => ({ ok: false, reason });
const done = (value: string, raw: string): Canon => ({ ok: true, value, changed: value !== raw });

/** User input shown in a message: bounded, with anything unprintable escaped. */
export function show(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return cut.replace(
    // biome-ignore lint/suspicious/noMisleadingCharacterClass: it finds combining marks and variation selectors one by one, to escape each
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{M}`\u{fe00}-\u{fe0f}]/gu,
    (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`,
  );
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function needString(v: unknown, what: string): string | Canon {
  if (typeof v !== 'string') return fail(`${what} must be a string, got ${typeName(v)}`);
  if (v.length === 0) return fail(`${what} is empty`);
  return v;
}

// Controls, format characters (zero-width, bidi controls, tags), variation selectors, odd separators,
// Hangul fillers: nothing a person can see or tell apart.
const INVISIBLE =
  // biome-ignore lint/suspicious/noMisleadingCharacterClass: it finds variation selectors and fillers on their own, wherever they stand
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u115f\u1160\u3164\uffa0\ufe00-\ufe0f\u{e0100}-\u{e01ef}]/u;

const SCRIPTS: Array<[string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
];

/** Latin, Cyrillic and Greek letters in one identifier are how look-alikes (`аcme`) are made. */
function mixedScripts(text: string): string | undefined {
  const found = new Set<string>();
  for (const ch of text) {
    const s = SCRIPTS.find(([, re]) => re.test(ch));
    if (s) found.add(s[0]);
  }
  return found.size > 1 ? [...found].sort().join(', ') : undefined;
}

/** An opaque identifier (project key, ticket id, one template part): NFC, visible, one script. */
export function canonicalId(raw: unknown, what = 'id', scriptCheck = true): Canon {
  const s = needString(raw, what);
  if (typeof s !== 'string') return s;
  if (s.length > 512) return fail(`${what} is longer than 512 characters`);
  if (INVISIBLE.test(s)) return fail(`${what} \`${show(s)}\` contains invisible or control characters`);
  const value = s.normalize('NFC').trim();
  if (value.length === 0) return fail(`${what} is blank`);
  const mixed = scriptCheck ? mixedScripts(value) : undefined;
  if (mixed) return fail(`${what} \`${show(s)}\` mixes scripts (${mixed})`);
  return done(value, s);
}

/** `owner/name` (or deeper, `group/sub/name`): id rules per segment, no empty, `.` or `..` segments. */
export function canonicalRepo(raw: unknown, what = 'repo'): Canon {
  const id = canonicalId(raw, what, false); // scripts are checked per segment below
  if (!id.ok) return id;
  const raw_ = raw as string;
  if (/[\s%\\?#]/u.test(id.value))
    return fail(`${what} \`${show(raw_)}\` contains a space, \`%\`, \`\\\`, \`?\` or \`#\``);
  const segments = id.value.split('/');
  if (segments.length < 2) return fail(`${what} \`${show(raw_)}\` is not \`owner/name\``);
  for (const seg of segments) {
    if (seg === '') return fail(`${what} \`${show(raw_)}\` has an empty segment (or a trailing slash)`);
    if (seg === '.' || seg === '..') return fail(`${what} \`${show(raw_)}\` contains a \`${seg}\` segment`);
    const mixed = mixedScripts(seg);
    if (mixed) return fail(`${what} \`${show(raw_)}\` mixes scripts (${mixed})`);
  }
  return id;
}

// Encoded `.`, `/`, `\`, `%` (double encoding) and NUL: in a file path these only ever serve to hide
// a traversal from a check that does not decode as many times as the upstream does.
const ENCODED_DANGER = /%(2e|2f|5c|25|00)/i;

function dotDotSegment(text: string): boolean {
  return text.split(/[/\\]/).some((seg) => seg === '..' || seg.normalize('NFKC') === '..');
}

/** The `.`, `/` and `\\` of a text, in order: what a look-alike (fullwidth `．／`) would add after NFKC. */
function separators(text: string): string {
  return text.replace(/[^./\\]/g, '');
}

/** Up to three layers of percent-decoding, to see through what an upstream might decode. */
function decodings(text: string): string[] {
  const out: string[] = [];
  let cur = text;
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(cur);
    } catch {
      break; // not valid percent-encoding (or overlong UTF-8): nothing further an upstream would see
    }
    if (next === cur) break;
    out.push(next);
    cur = next;
  }
  return out;
}

/** Whether a path text or one of its decodings holds `..` (also once NFKC-normalised: fullwidth `．．`). */
function traverses(text: string): boolean {
  return [text, ...decodings(text)].some((x) => dotDotSegment(x) || dotDotSegment(x.normalize('NFKC')));
}

/** Whether a text or one of its decodings holds look-alikes of `.`, `/` or `\` (what NFKC makes them). */
function lookAlikeSeparators(text: string): boolean {
  return [text, ...decodings(text)].some((x) => separators(x.normalize('NFKC')) !== separators(x));
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * RFC 3986 §6.2.2: a percent-encoded unreserved character (`%65` for `e`) is that character, and the
 * hex digits of the others are uppercase. Without it `tenant://x/%65vil` names `tenant://x/evil` to
 * an upstream that decodes, while no check that compares texts sees it as that.
 */
function percentNormalised(uri: string): string {
  return uri.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
}

/**
 * An absolute POSIX path. `//` and `/./` collapse and a trailing slash goes (so the value changes);
 * `..` in any form, NUL, controls, backslashes and encoded separators are refused. With `root` (itself
 * canonical), the path must be the root or inside it by whole segments: `/srv/data/tenant1_secrets`
 * is not inside `/srv/data/tenant1`. `shown` is what a refusal names instead of `raw` and `root`: for a
 * path resolved through symlinks, the path the caller gave and the root as configured (where a link
 * points on the gateway's host is not the caller's to learn).
 */
export function canonicalPath(
  raw: unknown,
  root?: string,
  what = 'path',
  shown?: { path: string; root?: string },
): Canon {
  const s = needString(raw, what);
  if (typeof s !== 'string') return s;
  const named = show(shown?.path ?? s);
  if (s.length > 4096) return fail(`${what} is longer than 4096 characters`);
  if (s.includes('\0')) return fail(`${what} contains a nul character`);
  if (INVISIBLE.test(s)) return fail(`${what} \`${named}\` contains invisible or control characters`);
  if (s.includes('\\')) return fail(`${what} \`${named}\` contains a backslash`);
  if (ENCODED_DANGER.test(s))
    return fail(`${what} \`${named}\` contains a percent-encoded \`.\`, \`/\`, \`\\\`, \`%\` or nul`);
  // Compatibility forms too: a fullwidth `．．／` is `../` to anything that normalises (NFKC) later.
  if (traverses(s)) return fail(`${what} \`${named}\` contains a \`..\` segment`);
  if (separators(s.normalize('NFKC')) !== separators(s))
    return fail(`${what} \`${named}\` contains look-alikes of \`.\`, \`/\` or \`\\\``);
  if (!s.startsWith('/')) return fail(`${what} \`${named}\` is not absolute`);
  const value =
    '/' +
    s
      .split('/')
      .filter((seg) => seg !== '' && seg !== '.')
      .join('/');
  if (root !== undefined && !insidePath(value, root))
    return fail(`${what} \`${named}\` is outside \`${shown?.root ?? root}\``);
  return done(value, s);
}

/** Segment-aware containment of canonical paths (`root` itself counts as inside). */
export function insidePath(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/**
 * An http(s) URL as WHATWG URL serialises it: lowercase scheme and host, IDNA to punycode, default
 * port removed, dot segments resolved, percent-encoded unreserved characters decoded. Refused: other
 * schemes (`javascript:`, `file:`), userinfo, whitespace/controls/backslashes (which parsers disagree
 * about), encoded separators and look-alikes of `.`, `/` and `\` in the path.
 * The fragment is dropped (it never reaches a server), which counts as a change.
 */
export function canonicalUrl(raw: unknown, what = 'url'): Canon {
  const s = needString(raw, what);
  if (typeof s !== 'string') return s;
  if (s.length > 2048) return fail(`${what} is longer than 2048 characters`);
  if (/[\s\\]/u.test(s) || INVISIBLE.test(s))
    return fail(`${what} \`${show(s)}\` contains whitespace, a backslash or invisible characters`);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return fail(`${what} \`${show(s)}\` is not a valid url`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return fail(`${what} scheme \`${show(u.protocol)}\` is not allowed (only http and https)`);
  if (u.username !== '' || u.password !== '' || /^[a-z]+:\/\/[^/?#]*@/i.test(s))
    return fail(`${what} \`${show(u.host)}\` must not contain credentials`);
  if (ENCODED_DANGER.test(u.pathname))
    return fail(`${what} path \`${show(u.pathname)}\` contains a percent-encoded \`.\`, \`/\`, \`\\\`, \`%\` or nul`);
  // As in a path: WHATWG resolves `..` but percent-encodes a fullwidth `．．` or `‥`, which an upstream
  // that decodes and normalises (NFKC) then reads as `..`.
  if (traverses(u.pathname)) return fail(`${what} path \`${show(u.pathname)}\` contains a \`..\` segment`);
  if (lookAlikeSeparators(u.pathname))
    return fail(`${what} path \`${show(u.pathname)}\` contains look-alikes of \`.\`, \`/\` or \`\\\``);
  u.hash = '';
  return done(percentNormalised(u.href), s);
}

export type UriCanon =
  | { ok: true; resource: { kind: 'path' | 'url' | 'id'; value: string }; uri: string; changed: boolean }
  | { ok: false; reason: string };

/**
 * A resource URI as policy judges it and as it then goes upstream. `file:` URIs are paths (so path
 * patterns and roots apply; the path is decoded once, and traversal in any encoding is refused);
 * http(s) URIs are urls; any other scheme is an id whose value is the URI as WHATWG serialises it,
 * percent-encoded unreserved characters decoded (dot segments, their look-alikes and encoded separators
 * refused, no userinfo). `uri` is the canonical form: the one
 * forwarded.
 */
export function canonicalResourceUri(raw: unknown): UriCanon {
  const s = needString(raw, 'uri');
  if (typeof s !== 'string') return s as { ok: false; reason: string };
  if (s.length > 8192) return { ok: false, reason: 'uri is longer than 8192 characters' };
  if (/[\s\\]/u.test(s) || INVISIBLE.test(s))
    return { ok: false, reason: `uri \`${show(s)}\` contains whitespace, a backslash or invisible characters` };
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return { ok: false, reason: `uri \`${show(s)}\` is not a valid uri` };
  }
  if (u.username !== '' || u.password !== '' || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(s))
    return { ok: false, reason: `uri \`${show(s)}\` must not contain credentials` };
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    const c = canonicalUrl(s, 'uri');
    return c.ok ? { ok: true, resource: { kind: 'url', value: c.value }, uri: c.value, changed: c.changed } : c;
  }
  if (u.protocol === 'file:') {
    if (u.host !== '' && u.host !== 'localhost') return { ok: false, reason: `uri \`${show(s)}\` names a remote host` };
    if (u.search || u.hash) return { ok: false, reason: `uri \`${show(s)}\` has a query or fragment` };
    const rawPath = s.replace(/^file:(\/\/(localhost)?)?/i, '');
    if (ENCODED_DANGER.test(rawPath))
      return { ok: false, reason: `uri \`${show(s)}\` contains a percent-encoded \`.\`, \`/\`, \`\\\`, \`%\` or nul` };
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      return { ok: false, reason: `uri \`${show(s)}\` is not valid percent-encoding` };
    }
    const p = canonicalPath(decoded, undefined, 'uri path');
    if (!p.ok) return p;
    const uri = fileUri(p.value);
    return { ok: true, resource: { kind: 'path', value: p.value }, uri, changed: uri !== s };
  }
  const rest = s.slice(s.indexOf(':') + 1);
  if (ENCODED_DANGER.test(rest))
    return { ok: false, reason: `uri \`${show(s)}\` contains a percent-encoded \`.\`, \`/\`, \`\\\`, \`%\` or nul` };
  if (traverses(rest)) return { ok: false, reason: `uri \`${show(s)}\` contains a \`..\` segment` };
  // An id names its resource one way: WHATWG drops a `.` segment (`a/./b` is `a/b`, `a/.` is `a/`), an
  // upstream may not, so either reading is a second name for something the gateway checked as another.
  if (rest.split('/').some((seg) => seg === '.'))
    return { ok: false, reason: `uri \`${show(s)}\` contains a \`.\` segment` };
  if (lookAlikeSeparators(rest))
    return { ok: false, reason: `uri \`${show(s)}\` contains look-alikes of \`.\`, \`/\` or \`\\\`` };
  if (u.pathname.includes('//')) return { ok: false, reason: `uri \`${show(s)}\` has an empty segment (\`//\`)` };
  const id = canonicalId(percentNormalised(oneSpelling(u)), 'uri', false);
  if (!id.ok) return id;
  return { ok: true, resource: { kind: 'id', value: id.value }, uri: id.value, changed: id.value !== s };
}

/**
 * A custom-scheme URI with what only respells it taken out (walk CC: each reached the upstream as
 * another name than the quarantined one): a fragment (a part of what is read, not another resource;
 * dropped as for http), an empty query, and non-ASCII text however it was composed or encoded (NFC,
 * then encoded again as WHATWG encodes it).
 */
function oneSpelling(u: URL): string {
  const v = new URL(u.href);
  v.hash = '';
  if (v.search === '') v.search = '';
  const text = v.href.replace(/(?:%[89A-Fa-f][0-9A-Fa-f])+/g, (run) => {
    try {
      return decodeURIComponent(run); // bytes of characters outside ASCII only: never a delimiter
    } catch {
      return run;
    }
  });
  try {
    return new URL(text.normalize('NFC')).href;
  } catch {
    return v.href;
  }
}

/**
 * The real path behind a canonical path, as far as it exists (a file about to be created has a real
 * parent): symlinks anywhere on the way are resolved, so a link inside an allowed folder that points
 * outside it is judged by where it points.
 */
export async function realPathOf(path: string, hops = 0): Promise<string> {
  // Too many links (a loop): '' is no path at all, which every caller refuses.
  if (hops > 40) return '';
  const tail: string[] = [];
  let cur = path;
  for (;;) {
    try {
      const real = await realpath(cur);
      return tail.length ? `${real === '/' ? '' : real}/${[...tail].reverse().join('/')}` : real;
    } catch {
      // A link that points nowhere yet is judged by where it points: writing through it creates that file.
      const st = await lstat(cur).catch(() => undefined);
      if (st?.isSymbolicLink()) {
        const target = await readlink(cur);
        const abs = normalize(target.startsWith('/') ? target : `${dirname(cur)}/${target}`);
        return realPathOf(tail.length ? `${abs === '/' ? '' : abs}/${[...tail].reverse().join('/')}` : abs, hops + 1);
      }
      const i = cur.lastIndexOf('/');
      if (i <= 0) return path;
      tail.push(cur.slice(i + 1));
      cur = cur.slice(0, i);
    }
  }
}

/** The `file:` URI of canonical absolute path `path`, each segment percent-encoded. */
export function fileUri(path: string): string {
  return new URL(
    `file://${path
      .split('/')
      .map((seg) => encodeURIComponent(seg))
      .join('/')}`,
  ).href;
}
