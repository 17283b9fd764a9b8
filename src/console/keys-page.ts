/** The console's API keys page: the keys this viewer may see, revoking one, and creating one (shown once). */
import type { ApiKeyRecord } from '../storage/types.ts';
import { escapeHtml, ident, line, text } from '../approvals/page.ts';
import { TENANT_KEY_MAX_DAYS } from '../identity/api-keys.ts';
import { csrfField, iso, layout, type View } from './page-frame.ts';

/** Whether an API key still works: revoked, expired (at `now`) or active. */
function keyState(r: ApiKeyRecord, now: number): 'revoked' | 'expired' | 'active' {
  if (r.revokedAt !== null) return 'revoked';
  if (r.expiresAt !== null && r.expiresAt <= now) return 'expired';
  return 'active';
}

export function keysPage(v: View, keys: ApiKeyRecord[], created?: { key: string; name: string }): string {
  const now = Date.now();
  const state = (r: ApiKeyRecord) => keyState(r, now);
  const trs = keys.map(
    (r) =>
      `<tr id="key-${escapeHtml(r.name)}"><td><code>${line(r.id)}</code></td><td>${line(r.name)}</td><td>${line(r.tenant)}</td><td>${r.subject === null ? '(service key)' : ident(r.subject)}</td><td>${line(r.roles.join(', '))}</td><td>${line(r.scopes.join(' '))}</td><td class="st-${state(r)}">${state(r)}</td><td>${text(iso(r.expiresAt))}</td><td>${text(iso(r.lastUsedAt))}</td><td>${state(r) === 'revoked' ? '' : `<form method="post" action="/console/keys/revoke" class="inline">${csrfField(v)}<input type="hidden" name="id" value="${escapeHtml(r.id)}"><button type="submit" class="danger">Revoke</button></form>`}</td></tr>`,
  );
  const shown = created
    ? `<section class="card created"><div><p><strong>Key ${line(created.name)} created.</strong> Copy it now: it is stored hashed and cannot be shown again.</p><code class="secret">${text(created.key)}</code><p class="muted">Use it as <code>Authorization: Bearer &lt;key&gt;</code>.</p></div></section>`
    : '';
  const form = [
    `<form method="post" action="/console/keys/create" class="card">${csrfField(v)}`,
    '<label>Name<input name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}"></label>',
    v.platform
      ? '<label>Tenant<input name="tenant" required maxlength="64"></label>'
      : `<label>Tenant<input name="tenant" value="${escapeHtml(v.tenant)}" readonly></label>`,
    '<label>Person (optional)<input name="person" maxlength="256"></label>',
    '<label>Roles<input name="roles" maxlength="500" placeholder="e.g. agent (empty: none)"></label>',
    '<label>Scopes<input name="scopes" maxlength="500" placeholder="empty: those every call and read needs"></label>',
    `<label>Expires<input name="expires" value="90d" maxlength="20" size="6"${v.platform ? '' : ` title="at most ${TENANT_KEY_MAX_DAYS}d"`}></label>`,
    '<button type="submit">Create key</button>',
    '</form>',
  ].join('\n');
  return layout(
    v,
    'keys',
    'API keys',
    [
      shown,
      form,
      trs.length
        ? `<table class="keys"><thead><tr><th>Id</th><th>Name</th><th>Tenant</th><th>Person</th><th>Roles</th><th>Scopes</th><th>State</th><th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>${trs.join('')}</tbody></table>`
        : '<p>No keys yet.</p>',
      '<p class="muted">A revoked key is refused from the next request on, on every gateway. A key without a person is a service key: it can call tools but never approve.</p>',
    ].join('\n'),
  );
}
