/**
 * Pure logic of the conformance harness: reading the suite's console summary, scoring a run,
 * comparing the direct run with the run through Gatehouse, and rendering the Markdown table.
 */

interface ScenarioScore {
  /** The suite's own verdict for the scenario (its ✓/✗ mark). */
  ok: boolean;
  passed: number;
  failed: number;
  /** Not counted toward the revision's conformance (extension or pending), per the suite. */
  notScored?: string;
  /** `check-id: message` for each failed check, when the run wrote its checks. */
  failures?: string[];
}

export type SuiteScores = Record<string, ScenarioScore>;

export interface SuiteRun {
  suite: string;
  scores: SuiteScores;
  /** Set when the suite could not run at all (no summary printed, process failed to start, ...). */
  error?: string;
}

export interface Totals {
  scenarios: number;
  passing: number;
  checksPassed: number;
  checksFailed: number;
}

/** The suite's summary lines: `✓ name: 3 passed, 0 failed`, and the not-scored list after the totals. */
export function parseSummary(out: string): SuiteScores {
  const scores: SuiteScores = {};
  for (const m of out.matchAll(/^([✓✗]) ([\w/-]+): (\d+) passed, (\d+) failed/gmu)) {
    scores[m[2]] = { ok: m[1] === '✓', passed: Number(m[3]), failed: Number(m[4]) };
  }
  const notScored = out.split(/^Not scored for [^\n]*$/m)[1] ?? '';
  for (const m of notScored.matchAll(/^\s+[✓✗] ([\w/-]+) \(([^)]+)\)$/gmu)) {
    if (scores[m[1]]) scores[m[1]].notScored = m[2];
  }
  return scores;
}

/** Checks from a scenario's checks.json that failed, as `id: message`. */
export function failedChecks(checks: { id: string; status: string; errorMessage?: string }[]): string[] {
  return checks.filter((c) => c.status === 'FAILURE').map((c) => `${c.id}: ${c.errorMessage ?? 'failed'}`);
}

/** The scenario name in a result folder `server-<scenario>-<ISO timestamp>`. */
export function scenarioOfFolder(folder: string): string | undefined {
  return /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(folder)?.[1];
}

export function totals(scores: SuiteScores, scoredOnly = false): Totals {
  const list = Object.values(scores).filter((s) => !scoredOnly || !s.notScored);
  return {
    scenarios: list.length,
    passing: list.filter((s) => s.ok).length,
    checksPassed: list.reduce((a, s) => a + s.passed, 0),
    checksFailed: list.reduce((a, s) => a + s.failed, 0),
  };
}

/** Scenarios that pass directly but not through the gateway (or did not run there). */
export function regressions(direct: SuiteScores, gateway: SuiteScores): string[] {
  return Object.keys(direct).filter((s) => direct[s].ok && !gateway[s]?.ok);
}

/** True when the gateway's score is below the direct score: fewer passing scenarios, or any regression. */
export function gatewayBelow(direct: SuiteRun, gateway: SuiteRun | undefined): boolean {
  if (!gateway || gateway.error) return true;
  return (
    totals(gateway.scores).passing < totals(direct.scores).passing ||
    regressions(direct.scores, gateway.scores).length > 0
  );
}

function cell(x: ScenarioScore | undefined): string {
  return x ? `${x.ok ? '✓' : '✗'} ${x.passed}/${x.passed + x.failed}` : '-';
}

function totalCell(t: Totals): string {
  return `${t.passing}/${t.scenarios} scenarios, ${t.checksPassed}/${t.checksPassed + t.checksFailed} checks`;
}

/** A Markdown table: scenario, direct, through gatehouse, then totals (and scored-only totals when they differ). */
export function table(direct: SuiteRun, gateway: SuiteRun | undefined, gatewayError?: string): string {
  const gwScores = gateway?.scores ?? {};
  const names = [...new Set([...Object.keys(direct.scores), ...Object.keys(gwScores)])];
  const note = (s: string) =>
    (direct.scores[s]?.notScored ?? gwScores[s]?.notScored)
      ? ` (not scored: ${direct.scores[s]?.notScored ?? gwScores[s]?.notScored})`
      : '';
  const rows = names.map(
    (s) => `| ${s}${note(s)} | ${cell(direct.scores[s])} | ${gateway ? cell(gwScores[s]) : 'not run'} |`,
  );
  const gwTotal = (scoredOnly: boolean) => {
    if (!gateway) return gatewayError ? 'failed' : 'not run';
    if (gateway.error) return 'failed';
    return totalCell(totals(gwScores, scoredOnly));
  };
  const lines = [
    `### suite: ${direct.suite}`,
    '',
    '| scenario | direct | through gatehouse |',
    '|---|---|---|',
    ...rows,
  ];
  lines.push(
    `| **total** | ${direct.error ? `failed: ${direct.error}` : totalCell(totals(direct.scores))} | ${gwTotal(false)} |`,
  );
  if (names.some((s) => note(s)))
    lines.push(`| **scored only** | ${totalCell(totals(direct.scores, true))} | ${gwTotal(true)} |`);
  const why = gatewayError ?? gateway?.error;
  if (why) lines.push('', `**the run through gatehouse failed:** ${why}`);
  else if (gateway) {
    const lost = regressions(direct.scores, gwScores);
    if (lost.length) lines.push('', `**passes directly but not through gatehouse:** ${lost.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
