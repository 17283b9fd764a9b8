/** The state of one upstream-bound request as it moves through the pipeline, and what stages may use. */
import type { ApproverSubject } from '../model/approval.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { GatehouseError } from '../protocol/errors.ts';
import type { RequestContext } from '../gateway/context.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { Inventory } from '../inventory/inventory.ts';
import type { Authenticator } from '../identity/authenticator.ts';
import type { Audit } from '../audit/audit.ts';
import type { Modes, Policy, Resource } from '../policy/model.ts';
import type { SchemaValidators } from '../policy/arguments.ts';
import type { Lease, Limiter } from '../limits/limiter.ts';
import type { RefusalBudget } from '../limits/refusals.ts';
import type { ApprovalService } from '../approvals/service.ts';
import type { CredentialedUpstreams } from '../credentials/upstreams.ts';
import type { SecretScrubber } from '../credentials/scrub.ts';
import type { ServerConfig } from '../config/schema.ts';
import type { AuditEvent } from '../model/audit-event.ts';
import type { Upstream } from '../upstream/upstream.ts';
import type { Holds } from '../gateway/holds.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { TaskHandles } from '../gateway/tasks.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { Tracer } from '../observability/tracing.ts';

import type { ToolClass } from '../model/tool-class.ts';
export type { ToolClass };

export interface Decision {
  effect: 'allow' | 'deny' | 'approval' | 'shadow';
  rule: string;
  reasons: string[];
  policyRevision?: string;
  approvers?: { roles?: readonly string[]; subjects?: readonly ApproverSubject[]; count?: number };
}

/** What a request acts on: the policy subject, the inventory item, the audit record's `tool`. */
export type TargetKind = 'tool' | 'prompt' | 'resource';

export interface Route {
  server: string;
  /** The name the upstream knows it by: a tool or prompt name, or the resource URI as it goes upstream (canonical). */
  tool: string;
  /** The definition from the inventory (a tool, prompt, resource or resource template). */
  def: JsonObject;
  /** The caller-facing name: namespaced tool or prompt, or namespaced resource URI. */
  qualified: string;
  /** The inventory item behind it (`prompt:<name>`, `resource:<uri>`, `template:<uriTemplate>`, or the tool's name). */
  item: string;
  /** tasks/*: the replica whose connection holds the task, when it is another (src/gateway/task-relay.ts). */
  holder?: string;
  /** A resource URI the server lists spelt another way too: those items, whose quarantine applies as well. */
  also?: string[];
  /** A resource URI: the canonical resource policy judges, or why the URI has none (refused at validate). */
  resource?: Resource | { refused: string };
  /** A name of a configured server with no catalogue yet (stages/unconnected.ts): refused at authorize, after visibility. */
  unconnected?: true;
}

export interface CallState {
  readonly ctx: RequestContext;
  /** The JSON-RPC method (a row of the method table). */
  readonly method: string;
  readonly kind: TargetKind;
  /** The tool or prompt name, or resource URI, exactly as the caller sent it. */
  readonly requested: string;
  /** The caller's params, parsed once; `arguments` is what goes upstream. */
  readonly params: JsonObject;
  readonly startedAt: number;
  route?: Route;
  /** Exactly what goes upstream: set by route, made canonical by validate (what policy checked). */
  upstream?: JsonObject;
  /** The canonical resources policy decided on. */
  resources?: Resource[];
  /** Set by validate: the global bound the arguments broke (the audit keeps their hash and size only). */
  outOfBounds?: string;
  /** Set by classify: why the item may not be used until an operator reviews it. */
  quarantine?: string | null;
  /** Set by classify: the operator's class, or DESTRUCTIVE while unreviewed. */
  toolClass?: ToolClass;
  /** The pin of the definition the call was checked against. */
  toolPin?: string;
  decision?: Decision;
  /** The durable write-ahead record, once the record stage wrote it. */
  intent?: AuditEvent;
  /** The approval this call waits for, or used. */
  approval?: { id: string; status: string; approvers?: string[] };
  /** A stage answered the call itself (a pending approval): the later stages do not run. */
  halt?: boolean;
  /**
   * The gateway's own answer (a pending approval, shadow) to a call that must not get it as a result:
   * a task-augmented call (pipeline/task-answers.ts). Audited as the answer it replaces, sent as this error.
   */
  answerAsError?: GatehouseError;
  /** The caller's tenant's connection to the server (set by connect). */
  up?: Upstream;
  /** Secret values injected into this call's upstream (redacted from its result, errors and audit). */
  injected?: string[];
  /** The concurrency leases taken by the limit stage: released when the request ends, or kept for its task. */
  lease?: Lease;
  /** The stages of its row that decide it (route to inspect): run again by recheck when the settings changed. */
  decidedBy?: Steps;
  /** The stage running (for the refusal record). */
  stage?: string;
  result?: JsonObject;
}

export interface PipelineDeps {
  catalog: Catalog;
  inventory: Inventory;
  identity: Authenticator;
  audit: Audit;
  /** The compiled policy with the run-time modes laid over its own; undefined when none is configured. */
  policy: Policy | undefined;
  /** The modes in force (policy files and run time). */
  modes: Modes;
  validators: SchemaValidators;
  limiter: Limiter | undefined;
  /** Refused requests spend a budget of their own (probing is bounded like calling). */
  refusals?: RefusalBudget;
  approvals: ApprovalService;
  /** Legacy callers: how long a call waits for its approval before returning the pending id. */
  approvalWaitMs: number;
  credentials: {
    pool: CredentialedUpstreams;
    scrubber: SecretScrubber;
    configOf: (server: string) => ServerConfig | undefined;
    /** Whether every tenant's secrets to look for are learned (true), or a promise of it (known-secrets.ts). */
    learned?: () => true | Promise<boolean>;
  };
  /** What a request carrying a credential gets (`secrets.outbound`); default deny. */
  outboundSecrets?: 'deny' | 'approve' | 'allow';
  /** Well-known secret formats in results: `redact` or `pass` (`secrets.results`); default pass. */
  resultSecrets?: 'redact' | 'pass';
  /** Legacy sessions (resource subscriptions are shared per tenant connection). */
  sessions?: Sessions;
  /** The listen streams' resource subscriptions (whose, by principal key): shared per connection as the sessions' are. */
  listenSubscribers?: () => Iterable<{ subscriptions: ReadonlySet<string>; principal: string }>;
  /** Task handles bound to the principal that started the task. */
  tasks: TaskHandles;
  upstreams: Map<string, Upstream>;
  holds: Holds;
  metrics: Metrics;
  /** Traces (OTLP): a span per stage, when configured. */
  tracer?: Tracer;
  /**
   * The deps in force now: a reload, a mode change or a revocation replaces them, and a request that
   * was decided on the ones it started with is decided again on these before it goes out (recheck).
   */
  current?: () => PipelineDeps;
}

/** A stage either returns (continue) or throws a GatehouseError (stop). */
export type Stage = (s: CallState, deps: PipelineDeps) => void | Promise<void>;

/** Named stages in the order they run (a row of the method table, or part of one). */
export type Steps = ReadonlyArray<readonly [string, Stage]>;
