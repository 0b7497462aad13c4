/**
 * Headless Chromium for the page tests (Debian's chromium, driven by playwright-core), started
 * with the flags this machine's closed network needs (no background networking, no QUIC).
 */
import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
/** The runner's skip reason when there is no Chromium, else false. */
export const noChromium: string | false = existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (Debian's chromium; .ci/run installs it)`;

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30_000,
  });
}
