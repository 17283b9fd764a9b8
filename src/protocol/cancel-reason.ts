/**
 * Why a caller cancelled its request, as the upstream is told it (`notifications/cancelled`'s
 * `reason`): the caller's own words when they are a short plain string that carries no credential,
 * else a generic text. The listener reads them; the request's abort signal carries them to the peer
 * that tells the upstream.
 *
 * A reason is free text going upstream, like a request's: one that carries a credential (another
 * tenant's injected secret raw or in an encoding the finder recognises, or a well-known format: a GitHub token, an AWS key; the
 * `secret:outbound` check's own finder) is not passed on at all, whatever `secrets.outbound` says —
 * a notification cannot be held for approval, and no server needs a credential in a cancel reason.
 * Before, only the injected values were cut out and a `ghp_…` or `AKIA…` token reached the upstream.
 */

/** The longest reason passed on: a longer one is not a short plain reason. */
const MAX_REASON = 200;
const GENERIC = 'cancelled by the client';

/**
 * An abort signal's reason when the caller cancelled its request, with the words it gave: an
 * `AbortError`, as the default reason is, for whatever rejects with a signal's reason.
 */
class CallerCancelled extends Error {
  readonly reason: string;
  /** The kinds of credential the caller's reason carried (it was not passed on); empty when none. */
  readonly withheld: readonly string[];
  constructor(reason: string, withheld: readonly string[] = []) {
    super('the request was cancelled');
    this.name = 'AbortError';
    this.reason = reason;
    this.withheld = withheld;
  }
}

/** What finds credentials in a text: the kinds found (the scrubber's `find`, as inspect uses it). */
export interface CredentialFinder {
  find(v: unknown): string[];
}

/**
 * The caller's reason as the upstream may be told it: a string of at most 200 characters once
 * control and format characters (line breaks, escapes, bidi and zero-width marks) are removed, in
 * which `credentials` finds nothing (looked for in the caller's words as sent and as cleaned: a
 * format mark inside a token hides it from neither, nor does a combining mark: the finder's own
 * look), its lone UTF-16 surrogates replaced by U+FFFD; anything else (absent, not a string, empty,
 * too long, carrying a credential) gives the generic text.
 */
export function callerCancelled(reason: unknown, credentials: CredentialFinder): CallerCancelled {
  if (typeof reason !== 'string' || reason.length > 4 * MAX_REASON) return new CallerCancelled(GENERIC);
  const plain = reason
    .replace(/[\p{Cc}\p{Cf}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!plain || plain.length > MAX_REASON) return new CallerCancelled(GENERIC);
  const found = new Set([reason, plain, reason.replace(/[\p{Cc}\p{Cf}]/gu, '')].flatMap((t) => credentials.find(t)));
  // A lone UTF-16 surrogate is not Unicode text: replaced (U+FFFD), as a notification cannot be refused.
  return found.size ? new CallerCancelled(GENERIC, [...found]) : new CallerCancelled(plain.toWellFormed());
}

/** What the upstream is told of a request aborted with this signal reason. */
export function cancelReasonOf(signalReason: unknown): string {
  return signalReason instanceof CallerCancelled ? signalReason.reason : GENERIC;
}

/**
 * For the call's audit record: that the caller's cancel reason carried a credential and was not passed
 * on (its kinds, never a value); undefined for any other abort.
 */
export function withheldCancelReason(signalReason: unknown): string | undefined {
  if (!(signalReason instanceof CallerCancelled) || !signalReason.withheld.length) return undefined;
  return `the client's cancel reason carries a credential (${signalReason.withheld.join(', ')}): not passed on (secret:outbound)`;
}
