import { existsSync } from 'node:fs';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). Never a downloaded browser. */
export const CHROMIUM = process.env.REG_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined. In CI (CI set) a missing browser fails instead. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} is missing (apt-get install chromium)`;
  if (process.env.CI) throw new Error(`browser tests need Chromium: ${why}`);
  return why;
}

/**
 * Headless Chromium for a root, sandbox-less container, with no network side channels. Playwright
 * gives every launch a fresh temporary profile (--user-data-dir).
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export interface PageWatch {
  errors: string[];
  dialogs: string[];
  requests: string[];
}

/**
 * A page that records console errors, uncaught exceptions, dialogs (alert/confirm/prompt are
 * dismissed and recorded) and every request, with a trap installed before any page script runs:
 * `window.__regTrap(...)` and the dialog functions record a call in `window.__regTrapped`.
 */
export async function watchedPage(browser: Browser): Promise<{ page: Page; watch: PageWatch }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const watch: PageWatch = { errors: [], dialogs: [], requests: [] };
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') watch.errors.push(m.text());
  });
  page.on('pageerror', (e) => watch.errors.push(`uncaught: ${e.message}`));
  page.on('dialog', (d) => {
    watch.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('request', (r) => watch.requests.push(r.url()));
  await page.addInitScript(() => {
    const w = window as unknown as { __regTrapped: string[]; __regTrap: (why: string) => void };
    w.__regTrapped = [];
    w.__regTrap = (why: string) => w.__regTrapped.push(String(why));
    for (const name of ['alert', 'confirm', 'prompt', 'print'] as const) {
      (window as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => w.__regTrap(`${name}(${args.map(String).join(',')})`);
    }
  });
  return { page, watch };
}
