/**
 * Policy rules that name tools nothing provides. A rule for `githb__create_issue` (a typo) or for a
 * server that was removed never matches, silently: the allow it meant to grant or the deny it meant
 * to enforce is not there. A mode is the same: `modes: { servers: { githb: disabled } }` leaves the
 * server it meant to switch off running, so server and tool modes are checked like rules' tools.
 * (Tenant modes are not: tenants come from tokens and keys, so config cannot say which exist.) At load Gatehouse knows the configured servers (and the tools the
 * operator wrote down for them); once the catalogue is loaded it knows every discovered tool. Each
 * tool pattern is checked against what is known and every miss is a warning with the rule's id and
 * place (an error at load with `policy.unknownTools: error`), with the nearest known name ("did you
 * mean"). A tool is checked only against a server whose inventory lists some tool: one not
 * discovered yet may have any, and a tool missing from a known list may still appear, so it is a
 * warning. Pure.
 */
import { compileGlob } from './glob.ts';
import type { Glob, Policy } from './model.ts';
import { suggest } from '../util/suggest.ts';

export interface UnknownToolWarning {
  rule: string;
  /** `file:line` of the rule. */
  at: string;
  file: string;
  line: number;
  pattern: string;
  message: string;
}

export interface KnownTools {
  /** Configured server names. */
  servers: ReadonlySet<string>;
  /**
   * Namespaced tool names known so far (configured, or listed in the inventory); undefined: not
   * loaded yet. A server none of whose tools is here has no known inventory, and its tools are not
   * checked: it may not have been discovered yet.
   */
  tools?: ReadonlySet<string>;
  separator: string;
}

/** `no server` ... `is configured`, with the configured name nearest to it. */
function noServer(server: string, known: KnownTools): string {
  const near = suggest(server, [...known.servers]);
  return `no server \`${server}\` is configured${near ? ` (did you mean \`${near}\`?)` : ''}`;
}

/** The tools (without the server part) the inventory lists for `server`; undefined: none known. */
function toolsOf(server: string, known: KnownTools): string[] | undefined {
  if (!known.tools) return undefined;
  const prefix = `${server}${known.separator}`;
  const names = [...known.tools].filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));
  return names.length ? names : undefined;
}

function problem(g: Glob, known: KnownTools): string | undefined {
  const cut = g.source.indexOf(known.separator);
  if (g.literal) {
    if (cut <= 0) return `\`${g.source}\` is not a namespaced tool name (\`<server>${known.separator}<tool>\`)`;
    const server = g.source.slice(0, cut);
    if (!known.servers.has(server)) return noServer(server, known);
    const listed = toolsOf(server, known);
    const tool = g.source.slice(cut + known.separator.length);
    if (!listed || listed.includes(tool)) return undefined;
    const near = suggest(tool, listed);
    // A warning, not an error: the server may list the tool later (a tool appears, a tenant's view differs).
    return `server \`${server}\` has listed no tool \`${tool}\`${near ? ` (did you mean \`${server}${known.separator}${near}\`?)` : ''}; a warning, not an error: it may not be discovered yet`;
  }
  // A glob: its server part, when written literally, must name a configured server.
  const wild = Math.min(...['*', '?'].map((c) => (g.source.includes(c) ? g.source.indexOf(c) : Infinity)));
  const server = cut > 0 && cut < wild ? g.source.slice(0, cut) : undefined;
  if (server !== undefined && !known.servers.has(server)) return noServer(server, known);
  if (!known.tools || g.source.startsWith('*')) return undefined;
  // A server whose inventory is not known yet may have any tool.
  if (server !== undefined && !toolsOf(server, known)) return undefined;
  return [...known.tools].some((t) => g.re.test(t)) ? undefined : 'it matches no known tool';
}

export function unknownToolWarnings(policy: Policy, known: KnownTools): UnknownToolWarning[] {
  const out: UnknownToolWarning[] = [];
  for (const r of policy.rules) {
    for (const g of r.tools ?? []) {
      const why = problem(g, known);
      if (why)
        out.push({
          rule: r.id,
          at: `${r.at.file}:${r.at.line}`,
          file: r.at.file,
          line: r.at.line,
          pattern: g.source,
          message: `rule \`${r.id}\` names tool \`${g.source}\`, but ${why}`,
        });
    }
  }
  for (const rr of policy.resources) {
    const why = problem(rr.tool, known);
    if (why)
      out.push({
        rule: 'resources',
        at: `${rr.at.file}:${rr.at.line}`,
        file: rr.at.file,
        line: rr.at.line,
        pattern: rr.tool.source,
        message: `a resource rule names tool \`${rr.tool.source}\`, but ${why}`,
      });
  }
  out.push(...unknownModeWarnings(policy, known));
  return out;
}

/** Server and tool modes naming what is not configured (or, once the catalogue is known, listed). */
function unknownModeWarnings(policy: Policy, known: KnownTools): UnknownToolWarning[] {
  const out: UnknownToolWarning[] = [];
  const warn = (kind: 'server' | 'tool', name: string, why: string) => {
    const at = policy.modesAt[`${kind}:${name}`] ?? { file: policy.sources[0] ?? '', line: 0 };
    out.push({
      rule: 'modes',
      at: `${at.file}:${at.line}`,
      file: at.file,
      line: at.line,
      pattern: name,
      message: `the mode for ${kind} \`${name}\` switches nothing: ${why}`,
    });
  };
  for (const server of Object.keys(policy.modes.servers))
    if (!known.servers.has(server)) warn('server', server, noServer(server, known));
  for (const tool of Object.keys(policy.modes.tools)) {
    const why = problem(compileGlob(tool), known);
    if (why) warn('tool', tool, why);
  }
  return out;
}
