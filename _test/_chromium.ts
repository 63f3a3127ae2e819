// A real browser for tests: Debian's Chromium driven by playwright-core,
// headless, no network but what the page asks for. It fails loudly when
// chromium is missing (CI installs it; so does `.ci/run` on a fresh machine).
// Screenshots are kept in _test/artifacts/ (git-ignored) for a human to look
// at; no test compares them.
import { type Browser, chromium, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("./artifacts/", import.meta.url);

/** Launches Chromium; the caller closes it. */
export async function launchChromium(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ], // playwright gives each launch a fresh, temporary profile
  });
}

/** Saves what `page` shows as _test/artifacts/`name`. */
export async function screenshot(
  page: Page,
  name: string,
  options: { fullPage?: boolean } = {},
): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({
    path: new URL(name, ARTIFACTS).pathname,
    fullPage: options.fullPage ?? false,
  });
}
