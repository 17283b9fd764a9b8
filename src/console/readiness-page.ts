/** The console's readiness page: the report of `gatehouse check`, for a platform admin. */
import type { CheckItem } from '../readiness/checklist.ts';
import { escapeHtml, line, text } from '../approvals/page.ts';
import { layout, type View } from './page-frame.ts';

/** The readiness report, or (`items` undefined, a tenant admin) why it is not shown. */
export function readinessPage(v: View, items: CheckItem[] | undefined, totals: Record<string, number>): string {
  if (!items)
    return layout(
      v,
      'readiness',
      'Readiness',
      `<p class="flash err" role="status">The readiness report covers the whole gateway, every tenant's activity included: a platform admin reads it. Your admin role covers tenant ${text(v.tenant)}.</p>`,
    );
  let section = '';
  const out: string[] = [];
  for (const i of items) {
    if (i.section !== section) {
      if (section) out.push('</tbody></table>');
      section = i.section;
      out.push(
        `<h2>${text(section.replace(/^\d+ /, (m) => `${m.trim()}. `))}</h2><table class="readiness"><thead><tr><th>Item</th><th>Status</th><th>Why</th><th>How to fix</th></tr></thead><tbody>`,
      );
    }
    out.push(
      `<tr id="item-${escapeHtml(i.id)}"><td>${text(i.id)} ${text(i.title)}</td><td class="st-${i.status}"><strong>${text(i.status.toUpperCase())}</strong></td><td>${line(i.why)}</td><td>${i.status === 'pass' ? '' : line(i.fix)}</td></tr>`,
    );
  }
  if (section) out.push('</tbody></table>');
  return layout(
    v,
    'readiness',
    'Readiness',
    [
      `<p class="summary"><strong>${totals.fail === 0 ? 'Ready' : 'Not ready'}</strong>: ${text(totals.pass ?? 0)} pass, ${text(totals.warn ?? 0)} warn, ${text(totals.fail ?? 0)} fail. The same report as <code>gatehouse check</code>.</p>`,
      ...out,
    ].join('\n'),
  );
}
