/**
 * A real browser for the page tests: Debian's Chromium (apt-get install chromium) driven by
 * playwright-core, headless. Without it a browser test is skipped visibly, except in CI (CI=true),
 * where .ci/run installs it and a skip would hide a broken set-up: the test fails.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/** Chromium launched headless, or undefined when it is not installed. */
export async function launchChromium(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) return undefined;
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Whether test `tc` can use `browser`: without one it is skipped (failed under CI=true).
 * `if (!haveBrowser(browser, tc)) return;`
 */
export function haveBrowser(browser: Browser | undefined, tc: { skip(message: string): void }): browser is Browser {
  if (browser) return true;
  if (process.env.CI === 'true')
    assert.fail(`no Chromium at ${CHROMIUM}: .ci/run installs it (apt-get install chromium)`);
  tc.skip(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return false;
}
