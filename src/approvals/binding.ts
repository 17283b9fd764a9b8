/**
 * Binding an approval to one exact call. An approval says "this person may run THIS tool with THESE
 * arguments, as evaluated under THIS tool definition and THIS policy": any difference — other args,
 * a changed (rug-pulled) tool definition, a new policy revision, another caller or client — needs a
 * new approval. Hashes use the same RFC 8785 canonical JSON as pins, so key order does not matter.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '../util/sha256.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import type { ApprovalRequest, BoundCall } from '../model/approval.ts';

export interface Binding {
  /** `sha256:<hex>` of the canonical JSON of the arguments. */
  argsHash: string;
  /** `sha256:<hex>` of the canonical JSON of every bound field (args by their hash). */
  binding: string;
}

export function argsHashOf(args: unknown): string {
  return `sha256:${sha256(canonicalJson(args))}`;
}

export function bindingOf(call: BoundCall): Binding {
  const argsHash = argsHashOf(call.args);
  const bound = {
    tenant: call.tenant,
    principalKey: call.principalKey,
    client: call.client,
    server: call.server,
    tool: call.tool,
    argsHash,
    pin: call.pin,
    policyRevision: call.policyRevision,
  };
  return { argsHash, binding: `sha256:${sha256(canonicalJson(bound))}` };
}

/**
 * True only when the call is exactly the one approved. Compared field by field (not by the binding
 * hash) so the request does not need to store a binding, and a mismatch can be explained.
 */
export function matches(req: ApprovalRequest, call: BoundCall): boolean {
  return mismatch(req, call) === undefined;
}

/** The first bound field that differs (for logs and the refusal message), or undefined. */
export function mismatch(req: ApprovalRequest, call: BoundCall): string | undefined {
  if (call.tenant !== req.tenant || call.tenant !== req.requester.tenant) return 'tenant';
  if (call.principalKey !== req.requester.key) return 'requester';
  if (call.client !== req.requester.client) return 'client';
  if (call.server !== req.server) return 'server';
  if (call.tool !== req.tool) return 'tool';
  if (argsHashOf(call.args) !== req.argsHash) return 'arguments';
  if (call.pin !== req.pin) return 'pin';
  if (call.policyRevision !== req.policyRevision) return 'policy revision';
  return undefined;
}

/** `apr_` + 128 random bits, base64url (22 characters): unguessable, safe in URLs and Slack links. */
export function newApprovalId(): string {
  return `apr_${randomBytes(16).toString('base64url')}`;
}

/** Shape check for ids taken from URLs before they reach the store. */
export function isApprovalId(id: string): boolean {
  return /^apr_[A-Za-z0-9_-]{22}$/.test(id);
}
