// A daemon's page in headless Chromium, as a user sees it (the CPE's status page, the HAG's live
// page): Debian's chromium, installed through the project's installer, runs inside the network
// namespace where the page is (through a small wrapper script), loads `url`, waits until `ready`
// (code run in the page) holds, saves a full-page screenshot under test-results/ and returns the
// DOM, the page's text and the text of each `section.card` by its id.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');

export interface PageSeen {
  html: string;
  text: string;
  cards: Record<string, string>;
  /** Where the screenshot is. */
  shot: string;
}

/**
 * Chromium installed (Debian's package; on a fresh machine an install of a minute or more). A case
 * whose page must show a transfer calls it before it starts the transfer, not inside it: the
 * install outlasted a 50 MB download once and the page had nothing left to show.
 */
export function needChromium(): void {
  execFileSync('bash', ['-c', '. scripts/lib/ensure-deps.sh && ha_need_debs chromium'], {
    cwd: ROOT,
    stdio: 'pipe',
    timeout: 600_000,
  });
}

export async function pageInChromium(opts: {
  /** The full name of the namespace to browse from (Netns.name()). */
  netns: string;
  url: string;
  ready: string;
  shotName: string;
  /** A directory for the wrapper script. */
  work: string;
}): Promise<PageSeen> {
  needChromium();
  const shot = join(ROOT, 'test-results', opts.shotName);
  mkdirSync(dirname(shot), { recursive: true });
  const wrapper = join(opts.work, `chromium-in-${opts.netns}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${opts.netns} chromium "$@"\n`, { mode: 0o755 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(opts.url);
    await page.waitForFunction(opts.ready, undefined, { timeout: 20_000 });
    const html = await page.content();
    const text = String(await page.evaluate('document.body.innerText'));
    const cards = (await page.evaluate(
      `Object.fromEntries([...document.querySelectorAll('section.card')].map((c) => [c.id.slice(2), c.innerText]))`,
    )) as Record<string, string>;
    await page.screenshot({ path: shot, fullPage: true });
    if (statSync(shot).size < 10_000) throw new Error(`screenshot ${shot} is nearly empty`);
    process.stdout.write(`page screenshot: ${shot}\n`);
    return { html, text, cards, shot };
  } finally {
    await browser.close();
  }
}
