/**
 * The poisoning scan. Pure. A tool's description, title, schemas (parameter names, descriptions,
 * enums, defaults, examples) and a server's instructions are text a model reads and a person rarely
 * does: hidden characters, terminal escapes and instruction-like content in them are how tool
 * poisoning works. Every hit is a finding (which quarantines the tool); `sanitize` removes hidden
 * characters and escapes from what reaches clients. All patterns are linear: no nested quantifiers.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { wholeScriptConfusable } from '../catalog/names.ts';
import { loneSurrogateAt, pathText } from '../util/well-formed.ts';

export interface Finding {
  kind:
    | 'hidden-characters'
    | 'terminal-escape'
    | 'instructions'
    | 'credential-reference'
    | 'cross-tool-reference'
    | 'oversized'
    | 'confusable-name'
    | 'unpaired-surrogate';
  /** Where: `description`, `inputSchema.properties.path.description`, `inputSchema.properties[name]`, `instructions`. */
  where: string;
  detail: string;
}

/**
 * Characters no honest tool text needs: Unicode tags (invisible ASCII copies), supplementary
 * variation selectors (they carry bytes in "emoji smuggling"), bidi controls, zero-width spaces and
 * joiners that are not joining non-ASCII letters or emoji, runs of variation selectors, the BOM, the
 * soft hyphen, and C0/C1 controls other than tab, line feed and carriage return. A single joiner
 * between Persian letters or inside an emoji sequence, and one variation selector after an emoji,
 * are ordinary text and stay.
 */
const HIDDEN = new RegExp(
  [
    '[\\u{E0000}-\\u{E007F}\\u{E0100}-\\u{E01EF}\\u202A-\\u202E\\u2066-\\u2069\\u200E\\u200F\\u061C\\u200B\\u2060-\\u2064\\uFEFF\\u180E\\u00AD]',
    '[\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001A\\u001C-\\u001F\\u007F-\\u009A\\u009C-\\u009F]',
    '(?<=[\\u0000-\\u007F])[\\u200C\\u200D]|[\\u200C\\u200D](?=[\\u0000-\\u007F]|$)|^[\\u200C\\u200D]',
    '[\\uFE00-\\uFE0F](?=[\\uFE00-\\uFE0F])|(?<=[\\uFE00-\\uFE0F])[\\uFE00-\\uFE0F]|(?<=[A-Za-z])[\\uFE00-\\uFE0F]',
  ].join('|'),
  'gu',
);
/** ESC and the 8-bit CSI: the start of every ANSI escape sequence. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the scanner's job is to find control characters
const ESCAPE = /[\u001B\u009B]/g;
/** A whole ANSI escape sequence (CSI, OSC, or a two-character escape), for sanitising. */
const ANSI_SEQUENCE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the scanner's job is to find control characters
  /\u001B\[[0-?]{0,32}[ -/]{0,8}[@-~]|\u001B\][^\u0007\u001B]{0,4096}(?:\u0007|\u001B\\)|\u001B[@-Z\\-_]|\u009B[0-?]{0,32}[ -/]{0,8}[@-~]/g;

const INSTRUCTIONS: Array<[RegExp, string]> = [
  [/<\s*\/?\s*(?:important|system|instructions?|secret|hidden)\s*>/i, 'a hidden-instruction tag'],
  [
    /\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|other|system)\s+(?:instructions?|prompts?|rules?|messages?)/i,
    'an instruction to ignore instructions',
  ],
  [
    /\b(?:do\s+not|don'?t|never)\s+(?:tell|mention|inform|reveal\s+to|show)\s+(?:the\s+)?user/i,
    'an instruction to hide something from the user',
  ],
  [
    /\bbefore\s+(?:using|calling|invoking|running)\s+(?:this|any|the|other)\s+tools?\b[^.]{0,80}\b(?:read|call|send|pass|include)/i,
    'an instruction to act before using a tool',
  ],
  [
    /\b(?:(?:reveal|print|output|repeat|show|leak)\s+(?:your|the)\s+system\s+prompt|you\s+are\s+now\b|new\s+instructions\s*:|act\s+as\s+(?:an?\s+)?(?:admin|root|system)\b)/i,
    'prompt-injection wording',
  ],
  [/\b(?:sidenote|side\s+note)\s*[:,]/i, 'a hidden side note'],
];

/** Files that hold credentials or agent configuration: no honest tool description needs to name them. */
const CREDENTIAL_PATHS =
  /(?:^|[\s'"`(=:,])(?:~|\$HOME|\/home\/[^/\s]{1,64}|\/root)?\/?\.(?:ssh|aws|gnupg|kube|docker|azure|env|npmrc|pypirc|netrc|git-credentials|pgpass)\b|\.config\/gcloud\b|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\bmcp\.json\b|\bclaude_desktop_config\.json\b|\/etc\/(?:passwd|shadow)\b/i;

/**
 * The same, spelled as identifier words (a parameter named `content_from_reading_ssh_id_rsa` or
 * `sshPrivateKey`): read on the text split into words, where the path patterns above cannot see it.
 */
const CREDENTIAL_WORDS =
  /\bid\s+(?:rsa|dsa|ecdsa|ed25519)\b|\b(?:ssh|aws|gnupg|gpg|kube|docker|gcloud|azure)\s+(?:credentials?|private\s+keys?|secret\s+(?:access\s+)?keys?)\b|\bauthorized\s+keys\b|\bgit\s+credentials\b|\betc\s+(?:passwd|shadow)\b/i;

/**
 * Sizes beyond any honest tool text. A description is read by the model on every listing: 100 kB of
 * it is a way to bury instructions (or to flood the context), so longer texts are findings.
 */
export const TEXT_LIMITS = { title: 256, description: 8_192, schemaString: 4_096, instructions: 16_384 } as const;

export interface ScanOptions {
  /** Names of tools on other servers: a description that names one is trying to steer the model. */
  otherTools?: ReadonlySet<string>;
}

function describe(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

function scanText(text: string, where: string, out: Finding[], opts: ScanOptions): void {
  const hidden = text.match(HIDDEN);
  if (hidden)
    out.push({
      kind: 'hidden-characters',
      where,
      detail: `${hidden.length} hidden character(s): ${[...new Set(hidden)].slice(0, 5).map(describe).join(', ')}`,
    });
  if (ESCAPE.test(text)) out.push({ kind: 'terminal-escape', where, detail: 'an ANSI terminal escape sequence' });
  ESCAPE.lastIndex = 0;
  // Judge the text as a model would read it: without the invisible characters between the letters,
  // compatibility forms folded (fullwidth letters, typographic apostrophes), and identifiers split
  // into words (a parameter named `ignore_previous_instructions` says what it says).
  const plain = text
    .replace(HIDDEN, '')
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u02BC\uFF07]/g, "'");
  const visible = plain.replace(/[_-]+/g, ' ');
  for (const [re, what] of INSTRUCTIONS) if (re.test(visible)) out.push({ kind: 'instructions', where, detail: what });
  const cred =
    CREDENTIAL_PATHS.exec(visible) ??
    CREDENTIAL_WORDS.exec(visible.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[./\\]+/g, ' '));
  if (cred)
    out.push({
      kind: 'credential-reference',
      where,
      detail: `mentions ${JSON.stringify(cred[0].trim().slice(0, 40))}`,
    });
  if (opts.otherTools?.size) {
    for (const raw of plain.split(/[^A-Za-z0-9_.:/-]+/)) {
      const w = raw.replace(/[.:/-]+$/, '');
      if (w.length >= 4 && opts.otherTools.has(w)) {
        out.push({ kind: 'cross-tool-reference', where, detail: `names another server's tool ${JSON.stringify(w)}` });
        break;
      }
    }
  }
}

const MAX_NODES = 20_000;
/** Deeper than any honest schema; deeper nesting is itself a finding (and never a stack overflow). */
const MAX_DEPTH = 64;

interface Budget {
  n: number;
  deep: boolean;
}

/** Walk a JSON Schema: every key and every string in it is text a model may read. */
function scanSchema(node: unknown, where: string, out: Finding[], opts: ScanOptions, budget: Budget, depth = 0): void {
  if (--budget.n < 0) return;
  if (depth > MAX_DEPTH) {
    budget.deep = true;
    return;
  }
  if (typeof node === 'string') {
    if (node.length > TEXT_LIMITS.schemaString)
      out.push({ kind: 'oversized', where, detail: `${node.length} characters (at most ${TEXT_LIMITS.schemaString})` });
    scanText(node, where, out, opts);
    return;
  }
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      scanSchema(v, `${where}[${i}]`, out, opts, budget, depth + 1);
    });
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node as JsonObject)) {
    scanText(key, `${where}[${JSON.stringify(key)}]`, out, opts);
    scanSchema(value, `${where}.${key}`, out, opts, budget, depth + 1);
  }
}

/** Findings for one tool definition. The tool's own name was checked by the catalogue already. */
export function scanTool(def: JsonObject, opts: ScanOptions = {}): Finding[] {
  const out: Finding[] = [];
  for (const key of ['title', 'description'] as const) {
    const text = def[key];
    if (typeof text !== 'string') continue;
    if (text.length > TEXT_LIMITS[key])
      out.push({ kind: 'oversized', where: key, detail: `${text.length} characters (at most ${TEXT_LIMITS[key]})` });
    scanText(text, key, out, opts);
  }
  // Refused outright by the catalogue when it mixes scripts; one script that reads as Latin is held for review.
  const confusable = typeof def.name === 'string' ? wholeScriptConfusable(def.name) : undefined;
  if (confusable)
    out.push({
      kind: 'confusable-name',
      where: 'name',
      detail: `written in ${confusable.script}, reads as the Latin ${JSON.stringify(confusable.reads)}`,
    });
  // `_meta` and `icons` are shown to clients and read by hosts (an app's UI resource, say): scanned too.
  for (const key of ['inputSchema', 'outputSchema', 'annotations', 'execution', '_meta', 'icons'] as const) {
    if (def[key] === undefined) continue;
    const budget: Budget = { n: MAX_NODES, deep: false };
    scanSchema(def[key], key, out, opts, budget);
    if (budget.n < 0)
      out.push({ kind: 'instructions', where: key, detail: `too large to scan (over ${MAX_NODES} nodes)` });
    if (budget.deep) out.push({ kind: 'instructions', where: key, detail: `nested deeper than ${MAX_DEPTH} levels` });
  }
  return dedupe(out);
}

export function scanInstructions(text: string | undefined, opts: ScanOptions = {}): Finding[] {
  const out: Finding[] = [];
  if (text && text.length > TEXT_LIMITS.instructions)
    out.push({
      kind: 'oversized',
      where: 'instructions',
      detail: `${text.length} characters (at most ${TEXT_LIMITS.instructions})`,
    });
  if (text) scanText(text, 'instructions', out, opts);
  return dedupe(out);
}

function dedupe(fs: Finding[]): Finding[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const k = `${f.kind}|${f.where}|${f.detail}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Text without escape sequences and hidden characters, and with no lone surrogate: what clients are shown. */
export function sanitizeText(text: string): string {
  return text.replace(ANSI_SEQUENCE, '').replace(ESCAPE, '').replace(HIDDEN, '').toWellFormed();
}

/**
 * A deep copy of a definition with every string (and key) sanitised. Keys become own properties
 * (`__proto__` included: Object.fromEntries defines, it does not assign). Nesting beyond MAX_DEPTH
 * is cut to null; such a definition is quarantined by the scan anyway.
 */
export function sanitize<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return sanitizeText(value) as T;
  if (depth > MAX_DEPTH) return null as T;
  if (Array.isArray(value)) return value.map((v) => sanitize(v, depth + 1)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as JsonObject).map(([k, v]) => [sanitizeText(k), sanitize(v, depth + 1)]),
    ) as T;
  }
  return value;
}

/**
 * A lone UTF-16 surrogate anywhere in a definition (a string or a key), which JSON's `\ud800` lets an
 * upstream send: not Unicode text, so nothing can pin, store or show it as it is. The gateway keeps the
 * definition with U+FFFD in its place (review.ts) and this finding holds it for review.
 */
export function scanSurrogates(def: unknown, root = ''): Finding[] {
  const at = loneSurrogateAt(def);
  if (!at) return [];
  const where = pathText(root ? [root, ...at] : at) || '(definition)';
  return [{ kind: 'unpaired-surrogate', where, detail: 'a lone UTF-16 surrogate (not Unicode text), shown as U+FFFD' }];
}

/** One line for operators: the findings' details, joined. */
export function summarize(findings: Finding[]): string {
  return findings.map((f) => `${f.where}: ${f.detail}`).join('; ');
}

/** Findings for a prompt, resource or resource template: its texts, and a prompt's arguments. */
export function scanItem(def: JsonObject, opts: ScanOptions = {}): Finding[] {
  const out = scanTool(def, opts);
  for (const key of ['name', 'uri', 'uriTemplate'] as const)
    if (typeof def[key] === 'string') scanText(def[key] as string, key, out, opts);
  if (def.arguments !== undefined) {
    const budget: Budget = { n: MAX_NODES, deep: false };
    scanSchema(def.arguments, 'arguments', out, opts, budget);
    if (budget.n < 0 || budget.deep)
      out.push({ kind: 'instructions', where: 'arguments', detail: 'too large or too deeply nested to scan' });
  }
  return dedupe(out);
}
