// exec: provider — real child processes (the running node binary as the helper).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecProvider, splitCommandLine } from './exec.ts';
import { parseReference } from './types.ts';
import { expectCredentialError } from '../../test/support/credential-errors.ts';

const NODE = process.execPath;
const STDERR_CANARY = 'CANARY-STDERR-token-f00d';
const q = (s: string) => `'${s}'`; // single-quote a script for the exec: command line

const rejectsWith = (p: Promise<unknown>, code: string) => expectCredentialError(p, code, [STDERR_CANARY]);

describe('exec provider', () => {
  const resolve = (ref: string, p = new ExecProvider()) => p.resolve(parseReference(ref));

  test('argv splitting: whitespace, single and double quotes, backslashes', () => {
    assert.deepEqual(splitCommandLine(`a  b\t'c d' "e \\"f\\" \\\\ g" h\\ i ''`), [
      'a',
      'b',
      'c d',
      'e "f" \\ g',
      'h i',
      '',
    ]);
    assert.deepEqual(
      splitCommandLine(`get --x='$HOME;rm -rf /' "$(id)"`),
      ['get', '--x=$HOME;rm -rf /', '$(id)'],
      'no shell expansion',
    );
    assert.throws(() => splitCommandLine(`a 'b`), { code: 'E_REF_INVALID' });
    assert.throws(() => splitCommandLine(`a "b`), { code: 'E_REF_INVALID' });
    assert.throws(() => splitCommandLine(`a \\`), { code: 'E_REF_INVALID' });
  });

  test('stdout, trimmed, is the secret; arguments arrive intact without a shell', async () => {
    const v = await resolve(
      `exec:${NODE} -e ${q('process.stdout.write("  s3cr3t-" + process.argv[1] + "\\n\\n")')} 'a b;$x'`,
    );
    assert.equal(v.value, 's3cr3t-a b;$x');
    assert.ok(v.expiresAt > v.fetchedAt);
    assert.equal(v.version, undefined);
  });

  test('non-zero exit: error with the status only, stderr not included', async () => {
    const e = await rejectsWith(
      // The canary is assembled at run time so the reference itself does not contain it.
      resolve(
        `exec:${NODE} -e ${q(`console.error(${JSON.stringify(STDERR_CANARY.split('-'))}.join("-")); console.log("partial"); process.exit(3)`)}`,
      ),
      'E_PROVIDER_UNAVAILABLE',
    );
    assert.match(e.message, /exited with status 3$/);
  });

  test('timeout kills the command (and its process group)', async () => {
    const t0 = Date.now();
    const e = await rejectsWith(
      resolve(`exec:${NODE} -e ${q('setInterval(() => {}, 1000)')}`, new ExecProvider({ timeoutMs: 300 })),
      'E_PROVIDER_UNAVAILABLE',
    );
    assert.match(e.message, /timed out after 300 ms/);
    assert.ok(Date.now() - t0 < 3_000);
  });

  test('output over the cap is refused; empty output is not found; a missing command is unavailable', async () => {
    await rejectsWith(
      resolve(`exec:${NODE} -e ${q('process.stdout.write("x".repeat(5000))')}`, new ExecProvider({ maxBytes: 1000 })),
      'E_PROVIDER_UNAVAILABLE',
    );
    await rejectsWith(resolve(`exec:${NODE} -e ${q('process.stdout.write(" \\n ")')}`), 'E_SECRET_NOT_FOUND');
    const e = await rejectsWith(resolve('exec:/nonexistent/gatehouse-helper --x'), 'E_PROVIDER_UNAVAILABLE');
    assert.match(e.message, /could not be started \(ENOENT\)/);
  });

  test('the environment is configurable', async () => {
    const p = new ExecProvider({ env: { ONLY: 'this' } });
    const v = await resolve(
      `exec:${NODE} -e ${q('console.log(Object.keys(process.env).filter(k => !k.startsWith("NODE")).join(","))')}`,
      p,
    );
    assert.equal(v.value, 'ONLY');
  });

  test('an aborted signal kills the command', async () => {
    const ac = new AbortController();
    const p = new ExecProvider().resolve(
      parseReference(`exec:${NODE} -e ${q('setInterval(() => {}, 1000)')}`),
      ac.signal,
    );
    setTimeout(() => ac.abort(), 100);
    await rejectsWith(p, 'E_PROVIDER_UNAVAILABLE');
  });
});
