/**
 * Why a caller cancelled its request, as the upstream is told it (`notifications/cancelled`'s
 * `reason`): the caller's own words when they are a short plain string, else a generic text. The
 * listener reads them; the request's abort signal carries them to the peer that tells the upstream.
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
  constructor(reason: string) {
    super('the request was cancelled');
    this.name = 'AbortError';
    this.reason = reason;
  }
}

/**
 * The caller's reason as the upstream may be told it: a string of at most 200 characters once
 * control and format characters (line breaks, escapes, bidi and zero-width marks) are removed,
 * scrubbed by `scrub`; anything else (absent, not a string, empty, too long) gives the generic text.
 */
export function callerCancelled(reason: unknown, scrub: (s: string) => string): CallerCancelled {
  if (typeof reason !== 'string' || reason.length > 4 * MAX_REASON) return new CallerCancelled(GENERIC);
  const plain = reason
    .replace(/[\p{Cc}\p{Cf}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!plain || plain.length > MAX_REASON) return new CallerCancelled(GENERIC);
  return new CallerCancelled(scrub(plain));
}

/** What the upstream is told of a request aborted with this signal reason. */
export function cancelReasonOf(signalReason: unknown): string {
  return signalReason instanceof CallerCancelled ? signalReason.reason : GENERIC;
}
