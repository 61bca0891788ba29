// Debian's Chromium, headless, driven by playwright-core for the tests that need a real browser.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** The browser binary: AFFIX_TEST_CHROMIUM, or Debian's (scripts/test-services.sh installs it). */
export const CHROMIUM = process.env.AFFIX_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** A fresh headless Chromium with a profile of its own, kept off the network but for loopback; `close` removes the profile. */
export async function launchChromium(): Promise<{ browser: BrowserContext; close(): Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'affix-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
