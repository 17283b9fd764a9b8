/**
 * Approvals at run time: requests created from the call pipeline, decisions from the page, the CLI or
 * the admin API, use (at most once, compare-and-set in the store, so across every replica), the
 * HMAC-sealed request state for modern retries, the signed webhook, and an audit record for each step.
 */
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { ApprovalStore } from '../storage/types.ts';
import type { Audit } from '../audit/audit.ts';
import { bindingOf, newApprovalId } from './binding.ts';
import { decide, expire, isExpired, newRequest, pendingCapReached, use, type Transition } from './lifecycle.ts';
import type { ApprovalRequest, Approver, ApproversRule, BoundCall } from '../model/approval.ts';
import { requesterActor } from '../model/audit-event.ts';
import { summarize } from './summary.ts';
import { decisionRecord } from './decision-record.ts';
import { sign, slackPayload } from './webhook.ts';
import type { ToolClass } from '../model/tool-class.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import type { DeciderCheck } from './deciders.ts';

const STATE_PREFIX = 'gha1.';

export class ApprovalService {
  readonly #store: ApprovalStore;
  readonly #log: Logger;
  readonly #audit: Audit;
  #config: () => Config;
  #key: Buffer = Buffer.alloc(0);
  baseUrl: () => string;
  /** Whether those who approved may still vouch for a request when it is used (./deciders.ts). */
  readonly #deciders: DeciderCheck | undefined;

  constructor(
    store: ApprovalStore,
    config: () => Config,
    baseUrl: () => string,
    audit: Audit,
    log: Logger,
    deciders?: DeciderCheck,
  ) {
    this.#deciders = deciders;
    this.#store = store;
    this.#config = config;
    this.baseUrl = baseUrl;
    this.#audit = audit;
    this.#log = log;
  }

  async init(): Promise<void> {
    this.#key = await this.#store.sharedKey('approval-state');
  }

  get store(): ApprovalStore {
    return this.#store;
  }

  pageUrl(id: string): string {
    return `${this.baseUrl().replace(/\/+$/, '')}/approvals/${id}`;
  }

  #mac(text: string): string {
    return hmacSha256(this.#key, text).toString('base64url');
  }

  /** The modern `requestState` for a pending approval: tamper-evident, shared by every replica. */
  seal(id: string): string {
    return `${STATE_PREFIX}${id}.${this.#mac(id)}`;
  }

  /** The approval id in a sealed state, or undefined if it is not ours or was altered. */
  open(state: unknown): string | undefined {
    if (typeof state !== 'string' || !state.startsWith(STATE_PREFIX)) return undefined;
    const rest = state.slice(STATE_PREFIX.length);
    const dot = rest.lastIndexOf('.');
    if (dot < 0) return undefined;
    const id = rest.slice(0, dot);
    return sameBytes(rest.slice(dot + 1), this.#mac(id)) ? id : undefined;
  }

  isOurs(state: unknown): boolean {
    return typeof state === 'string' && state.startsWith(STATE_PREFIX);
  }

  /**
   * A new pending request; 'cap' when the principal has too many waiting. A tenant with too many
   * waiting is refused here, so one tenant's backlog never stops another's.
   */
  async create(input: {
    call: BoundCall;
    subject: string;
    roles?: readonly string[];
    issuer?: string;
    toolClass: ToolClass;
    shownArgs: unknown;
    rule: string;
    approvers: ApproversRule | undefined;
    resource?: string;
  }): Promise<ApprovalRequest | 'cap'> {
    const cfg = this.#config().approvals;
    const now = Date.now();
    if (pendingCapReached(await this.#store.countPending(input.call.principalKey, now), cfg.maxPendingPerPrincipal))
      return 'cap';
    const tenantCap = cfg.maxPendingPerTenant ?? 100;
    if (pendingCapReached(await this.#store.countPendingTenant(input.call.tenant, now), tenantCap)) {
      throw new GatehouseError(
        'E_APPROVAL_REQUIRED',
        `too many calls of tenant ${quote(input.call.tenant)} are waiting for approval (at most ${tenantCap}): wait for decisions before asking for more`,
        { cap: 'tenant' },
      );
    }
    const approversRule: ApproversRule = input.approvers ?? { roles: ['gatehouse-admin'], count: 1 };
    const req = newRequest({
      id: newApprovalId(),
      now,
      ttlMs: cfg.ttlSeconds * 1000,
      call: input.call,
      subject: input.subject,
      roles: input.roles,
      issuer: input.issuer,
      toolClass: input.toolClass,
      shownArgs: input.shownArgs,
      rule: input.rule,
      approversRule: { ...approversRule, count: approversRule.count ?? 1 } as ApproversRule,
      resource: input.resource,
      summary: summarize(input.call.tool, input.shownArgs, cfg.templates),
    });
    await this.#store.create(req);
    await this.#audit.record({
      kind: 'approval.event',
      tool: req.tool,
      server: req.server,
      class: req.toolClass,
      argsHash: req.argsHash,
      approval: { status: 'pending', id: req.id },
      actor: requesterActor(req.requester, req.tenant),
      runId: input.call.runId,
      detail: { event: 'requested', requester: req.requester.subject, tenant: req.tenant, rule: req.rule },
    });
    void this.#notify(req);
    return req;
  }

  /** Use an approval for this exact call: once, while approved and unexpired, and only if nothing bound changed. */
  async consume(id: string, call: BoundCall): Promise<Transition> {
    const req = await this.#store.get(id);
    // Someone else's approval (another tenant's, or another person's of this one) does not exist for
    // this caller: it learns neither its state nor what it is bound to.
    if (!req || req.tenant !== call.tenant || req.requester.key !== call.principalKey)
      return { ok: false, code: 'not_approved', message: 'no such approval' };
    const t = (await this.#revokedDecider(req)) ?? use(req, call, Date.now());
    if (!t.ok) {
      if (t.request) await this.#store.transition(t.request, req.status);
      await this.#audit.record({
        kind: 'approval.event',
        tool: req.tool,
        approval: { status: req.status, id },
        actor: requesterActor(req.requester, req.tenant),
        runId: call.runId,
        detail: { event: 'refused', code: t.code },
      });
      return t;
    }
    if (!(await this.#store.transition(t.request, 'approved')))
      return { ok: false, code: 'already_used', message: 'this approval was used already' };
    await this.#audit.record({
      kind: 'approval.event',
      tool: req.tool,
      approval: { status: 'used', id, approvers: t.request.decisions.map((d) => d.by.subject) },
      actor: requesterActor(req.requester, req.tenant),
      runId: call.runId,
      detail: { event: 'used' },
    });
    return t;
  }

  /** A refusal when someone who approved `req` can no longer vouch for it (revoked since). */
  async #revokedDecider(req: ApprovalRequest): Promise<Transition | undefined> {
    if (!this.#deciders || req.status !== 'approved') return undefined;
    for (const d of req.decisions) {
      if (d.decision !== 'approve') continue;
      const why = await this.#deciders(d.by);
      if (why)
        return {
          ok: false,
          code: 'approver_revoked',
          message: `${d.by.subject} approved it, and can no longer vouch for it (${why}): ask for a new approval`,
        };
    }
    return undefined;
  }

  async decide(
    id: string,
    approver: Approver,
    decision: 'approve' | 'deny',
    reason: string | undefined,
  ): Promise<Transition> {
    const req = await this.#store.get(id);
    if (!req) return { ok: false, code: 'not_pending', message: 'no such approval' };
    const t = decide(req, approver, decision, reason?.slice(0, 1000), Date.now());
    if (!t.ok) {
      if (t.request) await this.#store.transition(t.request, req.status);
      return t;
    }
    if (!(await this.#store.transition(t.request, 'pending')))
      return { ok: false, code: 'not_pending', message: 'the request changed meanwhile: reload it' };
    await this.#audit.record(
      decisionRecord(t.request, decision, reason, {
        subject: approver.subject,
        tenant: approver.tenant,
        via: 'approver',
        issuer: '',
      }),
    );
    return t;
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    const r = await this.#store.get(id);
    if (r && isExpired(r, Date.now()) && (r.status === 'pending' || r.status === 'approved')) {
      const e = expire(r, Date.now());
      await this.#store.transition(e, r.status);
      return e;
    }
    return r;
  }

  async #notify(req: ApprovalRequest): Promise<void> {
    const hook = this.#config().approvals.webhook;
    if (!hook) return;
    try {
      // The page shows the call exactly as it runs; a chat channel gets the summary and the target with
      // secrets redacted. The summary is made again from the arguments redacted whole: made from the
      // values cut short for one line, a secret cut in two no longer looks like one.
      const redactor = this.#audit.recorder.redactor;
      const args = redactor.redact(req.args).value;
      const summary = redactor.redactString(summarize(req.tool, args, this.#config().approvals.templates)).text;
      const resource = req.resource === undefined ? undefined : redactor.redactString(req.resource).text;
      const body = JSON.stringify(slackPayload({ ...req, summary, resource }, this.pageUrl(req.id)));
      const r = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...sign(body, hook.secret, Math.floor(Date.now() / 1000)) },
        body,
        signal: AbortSignal.timeout(5000),
      });
      if (!r.ok) this.#log.warn({ status: r.status }, 'approvals: webhook refused the notification');
    } catch (err) {
      this.#log.warn(
        { err: (err as Error).message, cause: String((err as { cause?: unknown }).cause ?? '') },
        'approvals: webhook unreachable',
      );
    }
  }

  binding(call: BoundCall): string {
    return bindingOf(call).binding;
  }
}
