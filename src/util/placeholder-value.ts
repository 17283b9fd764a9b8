/**
 * What a value filled into a `{tenant}` or `{env}` placeholder may be: letters, digits, `_ . @ + -`,
 * 1 to 128 of them, and no `..`. Anything else could traverse a path, start a field, smuggle an
 * encoded `..`, break exec argv quoting or a Connect filter, or hide in logs. One rule for every
 * place that fills one in: credential references (credentials/types.ts) and a sandbox's paths and
 * arguments (sandbox/sandbox.ts).
 */
const SAFE_VALUE = /^[\p{L}\p{N}_.@+-]{1,128}$/u;

export function isSafePlaceholderValue(value: string): boolean {
  return SAFE_VALUE.test(value) && !value.includes('..');
}
