/** The credential provider tests' one refusal check: the right CredentialError, and no secret in its message. */
import assert from 'node:assert/strict';
import { CredentialError } from '../../src/credentials/types.ts';

export async function expectCredentialError(
  p: Promise<unknown>,
  code: string,
  secrets: readonly string[],
): Promise<CredentialError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CredentialError, String(err));
  assert.equal(err.code, code, err.message);
  for (const s of secrets) assert.ok(!err.message.includes(s), `message leaks ${s}: ${err.message}`);
  return err;
}
