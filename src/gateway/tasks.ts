/**
 * Task handles. An upstream's task id is only meaningful on the connection (tenant) that started it,
 * and only its starter may read, await or cancel it. So the caller never sees the raw id: it gets an
 * opaque handle, `gh3.<iv>.<tag>.<ciphertext>`, encrypted and authenticated (AES-256-GCM,
 * src/util/seal.ts) under keys derived from the one every replica shares (the store's `task-handles`
 * key). Sealed inside are the server, the tool (so modes and visibility apply again on every later
 * request), the upstream's id, a digest of the principal (its key, tenant and subject) and endpoint,
 * and the replica whose connection holds the task (a connection lives in one process: another replica
 * relays the request there, src/gateway/task-relay.ts). The handle reveals none of them (its length
 * is padded too) and cannot be altered; the same task for the same caller always has the same handle.
 * A handle presented by anyone else, altered, or from another endpoint is an unknown task.
 *
 * Handles made before they were encrypted (`gh2.`, only signed, and `gh1.`, from before they named the
 * replica) still open until their tasks expire (24 hours at most): the answers about their tasks give
 * them back as the caller sent them. A `gh1.` handle opens for this replica's own connection.
 */
import { createHash } from 'node:crypto';
import { hmacSha256, sameBytes } from '../util/hmac.ts';
import { deriveKey, sealFixed, unseal } from '../util/seal.ts';
import { GatehouseError } from '../protocol/errors.ts';
import type { JsonObject, JsonRpcNotification } from '../protocol/jsonrpc.ts';
import type { Principal } from '../identity/principal.ts';
import { newReplicaId, type RelayedTask } from '../sessions/replica-relay.ts';
import { replaceTaskId, taskIdsIn } from './task-ids.ts';
import { TaskOwners } from './task-owners.ts';

export interface TaskTarget {
  server: string;
  /** The caller-facing tool name the task came from. */
  tool: string;
  /** The upstream's own task id. */
  taskId: string;
}

/** An opened handle: its task, and the replica whose connection holds it (none in a `gh1.` handle). */
export interface OpenedTask extends TaskTarget {
  replica?: string;
}

/** The task a tasks/* request named: the upstream's id, and the handle the caller sent for it. */
export interface KnownTask {
  taskId: string;
  handle: string;
}

/** Whom a handle is sealed for: the principal (its key names issuer, subject and tenant; tenant and subject again). */
export type TaskCaller = Pick<Principal, 'key' | 'tenant' | 'subject'>;

/**
 * A tasks/* request for a task another replica holds, as the pipeline passes it here (task-relay.ts):
 * what is relayed, less the relay's own fields; its method as the request named it.
 */
export type ElsewhereTask = Omit<RelayedTask, 'kind' | 'corr' | 'from' | 'method'> & { method: string };

const MAX_HANDLE = 2048;

/** Said when no replica relay carries the request (no Redis, or Redis away). */
export const HELD_ELSEWHERE =
  'this task is held by another gateway replica; it can be followed from there only while the replicas cannot reach each other (no Redis, or Redis away): retry later, or send tasks/* for it to the replica that started it';

/** What a `gh3.` handle's ciphertext is bound to. */
const AAD = 'gatehouse task handle gh3';
/** Plain texts are padded to a multiple of this, so a handle's length says little of what it holds. */
const PAD = 64;

export class TaskHandles {
  /** The shared key: the MAC of `gh1.` and `gh2.` handles only. */
  readonly #key: Buffer;
  /** Derived from it: the encryption of `gh3.` handles, and their nonces. */
  readonly #enc: Buffer;
  readonly #nonce: Buffer;
  /** Whose the tasks this replica's connections hold are: their status notifications go to them. */
  readonly owners = new TaskOwners();
  /** This replica: named in the handles of tasks its connections hold. */
  readonly replica: string;
  /** Relays a request to the replica holding its task (set when the replica relay runs: gateway/replicas.ts). */
  elsewhere: (
    to: string,
    r: ElsewhereTask,
    signal: AbortSignal,
    onNote?: (n: JsonRpcNotification) => void,
  ) => Promise<JsonObject> = async () => {
    throw new GatehouseError('E_TASK_ELSEWHERE', HELD_ELSEWHERE);
  };

  constructor(key: Buffer, replica = newReplicaId()) {
    this.#key = key;
    this.#enc = deriveKey(key, 'gatehouse task handles: aes-256-gcm key');
    this.#nonce = deriveKey(key, 'gatehouse task handles: aes-256-gcm nonce');
    this.replica = replica;
  }

  #mac(body: string): string {
    return hmacSha256(this.#key, body).toString('base64url');
  }

  static #who(parts: unknown[]): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
  }

  seal(t: TaskTarget, caller: TaskCaller, scope: string, replica = this.replica): string {
    const who = TaskHandles.#who([caller.key, caller.tenant, caller.subject, scope]);
    const plain = JSON.stringify([t.server, t.tool, t.taskId, who, replica]);
    const padded = plain.padEnd(Math.ceil((plain.length + 1) / PAD) * PAD, ' ');
    return `gh3.${sealFixed(this.#enc, this.#nonce, AAD, padded)}`;
  }

  open(handle: string, caller: TaskCaller, scope: string): OpenedTask | undefined {
    if (handle.length > MAX_HANDLE) return undefined;
    const [v, ...parts] = handle.split('.');
    if (v === 'gh3') return parts.length === 3 ? this.#open3(parts.join('.'), caller, scope) : undefined;
    const [body, mac, ...rest] = parts;
    if (rest.length || !body || !mac) return undefined;
    if (v === 'gh2') return this.#open2(body, mac, caller, scope);
    // Before handles named the replica: the MAC over the body alone, the principal's key and endpoint.
    if (v !== 'gh1' || !sameBytes(this.#mac(body), mac)) return undefined;
    const [server, tool, taskId, who] = parse(Buffer.from(body, 'base64url').toString('utf8')) ?? [];
    if (who !== TaskHandles.#who([caller.key, scope])) return undefined;
    return { server, tool, taskId };
  }

  #open3(sealed: string, caller: TaskCaller, scope: string): OpenedTask | undefined {
    let plain: string;
    try {
      plain = unseal(this.#enc, AAD, sealed);
    } catch {
      return undefined; // altered, another key's, or not a handle
    }
    const [server, tool, taskId, who, replica] = parse(plain) ?? [];
    if (!replica || who !== TaskHandles.#who([caller.key, caller.tenant, caller.subject, scope])) return undefined;
    return { server, tool, taskId, replica };
  }

  /** A `gh2.` handle (signed, not encrypted): minted before handles were encrypted. */
  #open2(body: string, mac: string, caller: TaskCaller, scope: string): OpenedTask | undefined {
    if (!sameBytes(this.#mac(`gh2.${body}`), mac)) return undefined;
    const [server, tool, taskId, who, replica] = parse(Buffer.from(body, 'base64url').toString('utf8')) ?? [];
    if (!replica || who !== TaskHandles.#who([caller.key, caller.tenant, caller.subject, scope])) return undefined;
    return { server, tool, taskId, replica };
  }

  /**
   * An answer about a task, for this caller: each upstream task id it names (the task's, its own
   * `taskId`, its related task's `_meta`), wherever it says it, becomes the handle sealed for this
   * caller (held by `at.replica`, else here). `known`: the task a tasks/* request named, whose handle
   * is given back as the caller sent it.
   */
  wrap(
    r: JsonObject,
    at: Omit<TaskTarget, 'taskId'> & { replica?: string },
    caller: TaskCaller,
    scope: string,
    known?: KnownTask,
  ): JsonObject {
    const ids = new Set(taskIdsIn(r));
    if (known) ids.add(known.taskId);
    let out = r;
    for (const taskId of ids) {
      const handle =
        taskId === known?.taskId
          ? known.handle
          : this.seal({ server: at.server, tool: at.tool, taskId }, caller, scope, at.replica ?? this.replica);
      out = replaceTaskId(out, taskId, handle);
    }
    return out;
  }
}

/** A handle's plain text: five strings at most (four in `gh1.`), or nothing. */
function parse(plain: string): string[] | undefined {
  try {
    const v = JSON.parse(plain) as unknown;
    return Array.isArray(v) && v.length <= 5 && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}
