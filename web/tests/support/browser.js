// Launches Debian's chromium through playwright-core with the flags this kind of machine
// needs (no sandbox as root, no GPU, no background connections to the closed network) and
// a fresh profile; never downloads a browser.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launchBrowser() {
  const profile = await mkdtemp(join(tmpdir(), "almahira-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    /// A new page; errors thrown by the page's scripts are collected in `page.errors`.
    async page({ width = 1280, height = 800 } = {}) {
      const page = await context.newPage();
      await page.setViewportSize({ width, height });
      page.errors = [];
      page.on("pageerror", (error) => page.errors.push(error));
      return page;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
