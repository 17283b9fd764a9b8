/**
 * The inventory's decisions, pure: what a discovery means for the stored inventory (pins, first
 * sight, rug pulls, poisoning), what an operator's accept or classify changes, and the status and
 * class every tool has as a result. The store applies the changes atomically (InventoryStore.update).
 *
 * Status is derived, never stored: a tool is active exactly when its current pin is the accepted
 * one. So a definition that changes is quarantined by the same write that records it, a server that
 * reverts to the accepted definition is active again, and nothing can leave a stale "active" behind.
 */
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type {
  InventoryChange,
  InventoryEventInput,
  InventoryServer,
  InventoryState,
  InventoryTool,
} from '../storage/types.ts';
import { isItemName } from '../catalog/names.ts';
import { sha256 } from '../util/sha256.ts';
import { instructionsPin, itemPin, legacyToolPin, pinnedPart, toolPin } from './canonical.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { proposeClass } from './classify.ts';
import type { ToolClass } from '../model/tool-class.ts';
import { scanInstructions, scanItem, scanSurrogates, scanTool, summarize, type Finding } from './scan.ts';
import { loneSurrogateAt, mayHoldLoneSurrogate, wellFormed } from '../util/well-formed.ts';

export type NewToolRule = 'quarantine' | 'accept';

export interface Observation {
  server: string;
  at: number;
  serverInfo: unknown;
  protocolVersion: string;
  instructions: string | undefined;
  tools: JsonObject[];
  prompts: JsonObject[];
  resources: JsonObject[];
  resourceTemplates: JsonObject[];
  /** Tool names of other servers, for the cross-tool reference check. */
  otherTools: ReadonlySet<string>;
}

export const SYSTEM_ACTOR = 'gatehouse';

/** How long after a server's first discovery a kind it lists for the first time is still first sight. */
const FIRST_SIGHT_GRACE_MS = 60_000;

/** Why a tool is quarantined, or null when it is active. */
export function toolQuarantine(t: Pick<InventoryTool, 'pin' | 'acceptedPin' | 'findings'>): string | null {
  const findings = t.findings as Finding[];
  if (t.acceptedPin === t.pin) return null;
  const scan = findings.length ? `poisoning scan: ${summarize(findings)}` : '';
  if (t.acceptedPin === null) return scan || 'new tool, not yet reviewed';
  return ['definition changed since it was accepted', scan].filter(Boolean).join('; ');
}

export function serverQuarantine(
  s: Pick<InventoryServer, 'instructionsPin' | 'acceptedPin' | 'findings'>,
): string | null {
  if (s.acceptedPin === s.instructionsPin) return null;
  const findings = s.findings as Finding[];
  const scan = findings.length ? `poisoning scan: ${summarize(findings)}` : '';
  if (s.acceptedPin === null) return scan || 'instructions not yet reviewed';
  return ['server instructions changed since they were accepted', scan].filter(Boolean).join('; ');
}

/** The class the gateway acts on: the operator's (config, then CLI), else DESTRUCTIVE until reviewed. */
export function effectiveClass(
  t: Pick<InventoryTool, 'class'>,
  configured: ToolClass | undefined,
): { class: ToolClass; reviewed: boolean; source: 'config' | 'operator' | 'unreviewed' } {
  if (configured) return { class: configured, reviewed: true, source: 'config' };
  if (t.class) return { class: t.class as ToolClass, reviewed: true, source: 'operator' };
  return { class: 'DESTRUCTIVE', reviewed: false, source: 'unreviewed' };
}

function snapshotOf(obs: Observation, iPin: string): { digest: string; content: JsonObject } {
  const shown: JsonObject = {
    serverInfo: (obs.serverInfo ?? null) as JsonObject,
    protocolVersion: obs.protocolVersion,
    instructionsPin: iPin,
    // Sorted: an upstream that lists the same things in another order has not changed.
    tools: [...obs.tools].sort(byKey('name')).map((t) => ({ pin: toolPin(t), def: pinnedPart(t) })),
    prompts: obs.prompts.map((p) => String(p.name ?? '')).sort(),
    resources: obs.resources.map((r) => String(r.uri ?? '')).sort(),
    resourceTemplates: obs.resourceTemplates.map((r) => String(r.uriTemplate ?? '')).sort(),
  };
  // Kept as shown: a lone surrogate (the definitions' own are marked by their findings) as U+FFFD.
  // Canonical JSON refuses one, so only a snapshot it refuses is walked: a walk of every definition
  // at every discovery was one long loop V8 optimised with TurboFan during a start, paging about
  // 5 MB of the compiler's code in for good (ADR 0014).
  try {
    return { digest: `sha256:${sha256(canonicalJson(shown))}`, content: shown };
  } catch (err) {
    if (loneSurrogateAt(shown) === undefined) throw err;
    const content = wellFormed(shown);
    return { digest: `sha256:${sha256(canonicalJson(content))}`, content };
  }
}

function byKey(key: string): (a: JsonObject, b: JsonObject) => number {
  return (a, b) => {
    const x = String(a[key]);
    const y = String(b[key]);
    if (x < y) return -1;
    return x > y ? 1 : 0;
  };
}

type Emit = (tool: string | null, kind: string, detail: Record<string, unknown>) => void;

type ServerAcceptance = Pick<InventoryServer, 'acceptedPin' | 'acceptedInstructions' | 'acceptedBy' | 'acceptedAt'>;

/** What is accepted of a server's instructions: as before, else on first sight what it shows, unless poisoned. */
function serverAcceptance(
  prev: InventoryServer | undefined,
  instructions: string | undefined,
  at: number,
  iPin: string,
  poisoned: boolean,
): ServerAcceptance {
  if (prev) {
    const { acceptedPin, acceptedInstructions, acceptedBy, acceptedAt } = prev;
    return { acceptedPin, acceptedInstructions, acceptedBy, acceptedAt };
  }
  if (poisoned) return { acceptedPin: null, acceptedInstructions: null, acceptedBy: null, acceptedAt: null };
  return {
    acceptedPin: iPin,
    acceptedInstructions: instructions ?? null,
    acceptedBy: SYSTEM_ACTOR,
    acceptedAt: at,
  };
}

/** The server's new record, and the events of its instructions (discovered, changed, quarantined, restored). */
function reconcileServer(prev: InventoryServer | undefined, obs: Observation, emit: Emit): InventoryServer {
  const at = obs.at;
  // Stored and shown with U+FFFD for a lone surrogate (the store's text cannot hold one); marked.
  const instructions = obs.instructions?.toWellFormed();
  const iPin = instructionsPin(instructions);
  const iFindings = [
    ...scanSurrogates(obs.instructions, 'instructions'),
    ...scanInstructions(instructions, { otherTools: obs.otherTools }),
  ];
  const server: InventoryServer = {
    server: obs.server,
    firstSeen: prev?.firstSeen ?? at,
    lastSeen: at,
    serverInfo: wellFormed(obs.serverInfo ?? null),
    protocolVersion: obs.protocolVersion.toWellFormed(),
    instructions: instructions ?? null,
    instructionsPin: iPin,
    findings: iFindings,
    ...serverAcceptance(prev, instructions, obs.at, iPin, iFindings.length > 0),
  };
  if (!prev) emit(null, 'server.discovered', { serverInfo: server.serverInfo, instructionsPin: iPin });
  else if (prev.instructionsPin !== iPin)
    emit(null, 'server.instructions_changed', { from: prev.instructionsPin, to: iPin });
  const sq = serverQuarantine(server);
  if (sq && (!prev || prev.instructionsPin !== iPin || serverQuarantine(prev) === null))
    emit(null, 'server.quarantined', { reason: sq });
  if (!sq && prev && serverQuarantine(prev))
    emit(null, 'server.restored', { reason: 'the instructions are the accepted ones again' });
  return server;
}

/** One tool, prompt, resource template or resource a server lists, pinned and scanned. */
interface ListedItem {
  name: string;
  def: JsonObject;
  pin: string;
  findings: Finding[];
  rule: NewToolRule;
  tool: boolean;
}

/**
 * Tools, then prompts, resource templates and resources under their prefixes: each pinned and
 * scanned. Listed resources are data more than definitions: new ones are accepted unless poisoned
 * (their descriptions are scanned, and a changed one is quarantined like any other item).
 */
function listedItems(obs: Observation, rule: NewToolRule): ListedItem[] {
  const opts = { otherTools: obs.otherTools };
  // Each kept, pinned and scanned as shown: a lone surrogate (not Unicode text; the store cannot hold
  // it, RFC 8785 cannot pin it) as U+FFFD, and a finding that holds the item for review. The listing
  // is looked at once; only one that may hold one is walked item by item (ADR 0014).
  const clean = !mayHoldLoneSurrogate([obs.tools, obs.prompts, obs.resourceTemplates, obs.resources]);
  const shown = (raw: JsonObject): JsonObject => (clean ? raw : wellFormed(raw));
  const surrogates = (raw: JsonObject): Finding[] => (clean ? [] : scanSurrogates(raw));
  const item = (raw: JsonObject, name: (def: JsonObject) => string, itemRule: NewToolRule): ListedItem => {
    const def = shown(raw);
    return {
      name: name(def),
      def,
      pin: itemPin(def),
      findings: [...surrogates(raw), ...scanItem(def, opts)],
      rule: itemRule,
      tool: false,
    };
  };
  return [
    ...obs.tools.map((raw) => {
      const def = shown(raw);
      return {
        name: String(def.name),
        def,
        pin: toolPin(def),
        findings: [...surrogates(raw), ...scanTool(def, opts)],
        rule,
        tool: true,
      };
    }),
    ...obs.prompts.map((def) => item(def, (d) => `prompt:${String(d.name)}`, rule)),
    ...obs.resourceTemplates.map((def) => item(def, (d) => `template:${String(d.uriTemplate)}`, rule)),
    ...obs.resources.map((def) => item(def, (d) => `resource:${String(d.uri)}`, 'accept')),
  ];
}

/** What a discovery knows when it judges one listed item. */
interface ItemContext {
  server: string;
  at: number;
  firstSight: boolean;
  /** Still within the grace after the server's first discovery. */
  withinGrace: boolean;
  /** The items stored before this discovery. */
  known: readonly InventoryTool[];
  emit: Emit;
}

type ItemAcceptance = Pick<InventoryTool, 'acceptedPin' | 'acceptedDef' | 'acceptedBy' | 'acceptedAt'>;

/** What is accepted of an item: as before, else what it shows when it is accepted now, else nothing. */
function itemAcceptance(
  prev: InventoryTool | undefined,
  acceptNow: boolean,
  item: ListedItem,
  at: number,
): ItemAcceptance {
  if (prev) {
    const { acceptedPin, acceptedDef, acceptedBy, acceptedAt } = prev;
    // Accepted under the pin of before `_meta` and `icons` were pinned, and the same by that pin: the
    // acceptance carries over to the full pin (no review for what nobody changed).
    if (repinned(prev, item)) return { acceptedPin: item.pin, acceptedDef: item.def, acceptedBy, acceptedAt };
    return { acceptedPin, acceptedDef, acceptedBy, acceptedAt };
  }
  if (!acceptNow) return { acceptedPin: null, acceptedDef: null, acceptedBy: null, acceptedAt: null };
  return { acceptedPin: item.pin, acceptedDef: item.def, acceptedBy: SYSTEM_ACTOR, acceptedAt: at };
}

/** A tool whose stored pins are of the kind before `_meta` and `icons` were pinned, unchanged by that kind. */
function repinned(prev: InventoryTool, item: ListedItem): boolean {
  return item.tool && prev.pin !== item.pin && prev.pin === legacyToolPin(item.def);
}

/** An item's new record, and its events (discovered, changed, returned, quarantined, restored). */
function reconcileItem(item: ListedItem, prev: InventoryTool | undefined, cx: ItemContext): InventoryTool {
  const { name, def, pin, findings, tool } = item;
  const proposal = tool
    ? proposeClass(def)
    : { class: 'READ' as ToolClass, reasons: ['prompts and resources only read'] };
  // A kind first listed soon after the server's first discovery (servers often register prompts
  // and templates after they answer) counts as first sight too; later, new is new.
  const kindPrefix = name.slice(0, name.indexOf(':') + 1);
  const firstOfKind = !tool && cx.withinGrace && !cx.known.some((x) => x.tool.startsWith(kindPrefix));
  const acceptNow = !prev && findings.length === 0 && (cx.firstSight || firstOfKind || item.rule === 'accept');
  const t: InventoryTool = {
    server: cx.server,
    tool: name,
    firstSeen: prev?.firstSeen ?? cx.at,
    lastSeen: cx.at,
    present: true,
    pin,
    def,
    findings,
    proposedClass: proposal.class,
    proposalReasons: proposal.reasons,
    ...itemAcceptance(prev, acceptNow, item, cx.at),
    class: prev?.class ?? null,
    classifiedBy: prev?.classifiedBy ?? null,
    classifiedAt: prev?.classifiedAt ?? null,
  };
  if (!prev) cx.emit(name, 'tool.discovered', { pin, proposedClass: proposal.class });
  else if (repinned(prev, item)) cx.emit(name, 'tool.repinned', { from: prev.pin, to: pin });
  else if (prev.pin !== pin) cx.emit(name, 'tool.changed', { from: prev.pin, to: pin });
  else if (!prev.present) cx.emit(name, 'tool.returned', { pin });
  const q = toolQuarantine(t);
  const wasQ = prev ? toolQuarantine(prev) : null;
  if (q && (q !== wasQ || !prev)) cx.emit(name, 'tool.quarantined', { reason: q, findings });
  if (!q && wasQ) cx.emit(name, 'tool.restored', { reason: 'the definition is the accepted one again' });
  return t;
}

/** What one discovery of a server changes. The first discovery of a server accepts what it finds (unless poisoned). */
export function reconcile(state: InventoryState, obs: Observation, rule: NewToolRule): InventoryChange {
  const at = obs.at;
  const events: InventoryEventInput[] = [];
  const emit: Emit = (tool, kind, detail) => {
    events.push({ at, server: obs.server, tool, kind, actor: SYSTEM_ACTOR, detail });
  };
  const server = reconcileServer(state.server, obs, emit);
  const cx: ItemContext = {
    server: obs.server,
    at,
    firstSight: state.server === undefined,
    withinGrace: state.server === undefined || at - state.server.firstSeen < FIRST_SIGHT_GRACE_MS,
    known: state.tools,
    emit,
  };
  const prevTools = new Map(state.tools.map((t) => [t.tool, t]));
  const tools: InventoryTool[] = [];
  const seen = new Set<string>();
  for (const item of listedItems(obs, rule)) {
    if (seen.has(item.name)) continue;
    seen.add(item.name);
    tools.push(reconcileItem(item, prevTools.get(item.name), cx));
  }
  for (const prev of state.tools) {
    if (seen.has(prev.tool) || !prev.present) continue;
    tools.push({ ...prev, present: false });
    emit(prev.tool, 'tool.removed', { pin: prev.pin });
  }

  const snap = snapshotOf(obs, server.instructionsPin);
  return {
    server,
    tools,
    events,
    snapshot:
      snap.digest === state.lastDigest ? undefined : { observedAt: at, digest: snap.digest, content: snap.content },
  };
}

const NOT_DISCOVERED =
  'its server has not been discovered yet (start the gateway, or run `gatehouse inventory --refresh`)';

export interface ReviewResult {
  ok: boolean;
  message: string;
  /** Nothing changed (already accepted): nothing to record, and the message names who accepted it. */
  unchanged?: true;
  /** For accept: the accepted definition before and after (for the diff). */
  before?: unknown;
  after?: unknown;
  /**
   * For accept: what the poisoning scan found in the definition, refused until the person accepting
   * confirms having read it (`ok` false, nothing changed).
   */
  findings?: string[];
}

/** How the person accepting confirms a definition the poisoning scan flagged: `confirmed` once they did; `how` names the way, for the refusal. */
export interface FindingsConfirmation {
  confirmed: boolean;
  how: string;
}

/**
 * What the poisoning scan found in what an accept would put in force (a tool's current definition,
 * or the server's instructions), with the definition before and after: nothing when it is in force
 * already or the scan found nothing.
 */
function flagged(state: InventoryState, tool: string | null): { findings: Finding[]; before: unknown; after: unknown } {
  const server = state.server;
  if (tool === null)
    return server && server.acceptedPin !== server.instructionsPin
      ? { findings: server.findings as Finding[], before: server.acceptedInstructions, after: server.instructions }
      : { findings: [], before: undefined, after: undefined };
  const t = state.tools.find((x) => x.tool === tool);
  return t && t.acceptedPin !== t.pin
    ? { findings: t.findings as Finding[], before: t.acceptedDef, after: t.def }
    : { findings: [], before: undefined, after: undefined };
}

/**
 * An accept of a definition the poisoning scan flagged, refused until confirmed: once accepted its
 * text reaches clients as written (an instruction to ignore instructions, a mention of ~/.ssh), so
 * the person accepting must have seen the findings, not only clicked through a quarantine.
 */
function unconfirmedFindings(
  state: InventoryState,
  tool: string | null,
  confirm: FindingsConfirmation,
): ReviewResult | undefined {
  const f = flagged(state, tool);
  if (!f.findings.length || confirm.confirmed) return undefined;
  return {
    ok: false,
    message: `the poisoning scan flagged it: ${summarize(f.findings)}. Accepted, this text reaches clients as written: read it, then confirm with ${confirm.how}`,
    before: f.before,
    after: f.after,
    findings: f.findings.map((x) => `${x.where}: ${x.detail}`),
  };
}

/** Who accepted what is in force, and when (`gatehouse` at discovery, under `newTools: accept`). */
function alreadyAccepted(x: { acceptedBy: string | null; acceptedAt: number | null }): string {
  const by = x.acceptedBy ? ` by ${x.acceptedBy}` : '';
  const at = x.acceptedAt ? ` at ${new Date(x.acceptedAt).toISOString()}` : '';
  return `already accepted${by}${at}`;
}

/**
 * Accept a tool's current definition (or, with `tool` null, the server's instructions); one the
 * poisoning scan flagged only when `confirm.confirmed`.
 */
export function accept(
  state: InventoryState,
  tool: string | null,
  actor: string,
  at: number,
  confirm: FindingsConfirmation,
): { change: InventoryChange; result: ReviewResult } {
  const server = state.server;
  if (!server) return { change: {}, result: { ok: false, message: NOT_DISCOVERED } };
  const refused = unconfirmedFindings(state, tool, confirm);
  if (refused) return { change: {}, result: refused };
  if (tool === null) {
    if (server.acceptedPin === server.instructionsPin)
      return {
        change: {},
        result: {
          ok: true,
          unchanged: true,
          message: alreadyAccepted(server),
          before: server.acceptedInstructions,
          after: server.instructions,
        },
      };
    const next = {
      ...server,
      acceptedPin: server.instructionsPin,
      acceptedInstructions: server.instructions,
      acceptedBy: actor,
      acceptedAt: at,
    };
    return {
      change: {
        server: next,
        events: [
          {
            at,
            server: server.server,
            tool: null,
            kind: 'server.accepted',
            actor,
            detail: { pin: server.instructionsPin, was: server.acceptedPin },
          },
        ],
      },
      result: {
        ok: true,
        message: 'instructions accepted',
        before: server.acceptedInstructions,
        after: server.instructions,
      },
    };
  }
  const t = state.tools.find((x) => x.tool === tool);
  if (!t) return { change: {}, result: { ok: false, message: 'the server does not list such a tool' } };
  const before = t.acceptedDef;
  if (t.acceptedPin === t.pin)
    return { change: {}, result: { ok: true, unchanged: true, message: alreadyAccepted(t), before, after: t.def } };
  const next: InventoryTool = { ...t, acceptedPin: t.pin, acceptedDef: t.def, acceptedBy: actor, acceptedAt: at };
  return {
    change: {
      tools: [next],
      events: [
        {
          at,
          server: t.server,
          tool,
          kind: 'tool.accepted',
          actor,
          detail: { pin: t.pin, was: t.acceptedPin, findings: t.findings },
        },
      ],
    },
    result: { ok: true, message: 'definition accepted', before, after: t.def },
  };
}

export function classify(
  state: InventoryState,
  tool: string,
  cls: ToolClass,
  actor: string,
  at: number,
): { change: InventoryChange; result: ReviewResult } {
  if (!state.server) return { change: {}, result: { ok: false, message: NOT_DISCOVERED } };
  if (isItemName(tool))
    return {
      change: {},
      result: { ok: false, message: 'prompts, resources and templates only read: they have no class to set' },
    };
  const t = state.tools.find((x) => x.tool === tool);
  if (!t) return { change: {}, result: { ok: false, message: 'the server does not list such a tool' } };
  if (t.class === cls) return { change: {}, result: { ok: true, message: `already ${cls}` } };
  const next: InventoryTool = { ...t, class: cls, classifiedBy: actor, classifiedAt: at };
  return {
    change: {
      tools: [next],
      events: [
        {
          at,
          server: t.server,
          tool,
          kind: 'tool.classified',
          actor,
          detail: { class: cls, was: t.class, proposed: t.proposedClass },
        },
      ],
    },
    result: { ok: true, message: `classified ${cls}` },
  };
}
