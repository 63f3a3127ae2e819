// The chat page in a real browser: Debian's Chromium driven by
// playwright-core. Two pages chat; each sees the other's message, and the
// "left the chat" line when one closes.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import app from "../examples/chat/main.ts";

const CHROMIUM = "/usr/bin/chromium";

Deno.test({
  name:
    "Chat page in Chromium: two pages see each other's messages and the departure",
  async fn() {
    try {
      await Deno.stat(CHROMIUM);
    } catch {
      throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    }
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      app.fetch,
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ], // playwright gives each launch a fresh, temporary profile
    });
    try {
      const url = `http://127.0.0.1:${server.addr.port}/`;
      const alice = await browser.newPage();
      const bob = await browser.newPage();
      await alice.goto(url);
      await bob.goto(url);
      const aliceId = await alice.textContent("#ws-id");
      const bobId = await bob.textContent("#ws-id");
      assert.ok(aliceId && bobId && aliceId !== bobId);
      // Wait until both sockets are open (the page connects on load).
      for (const page of [alice, bob]) {
        await page.waitForFunction(
          "typeof ws !== 'undefined' && ws.readyState === 1",
        );
      }
      await alice.fill("#messageText", "Hello from Alice");
      await alice.click("button");
      await bob.fill("#messageText", "Hi Alice");
      await bob.press("#messageText", "Enter");
      const said = (id: string, text: string) => `Client #${id} says: ${text}`;
      for (const page of [alice, bob]) {
        await page.locator("#messages li", {
          hasText: said(aliceId, "Hello from Alice"),
        }).waitFor();
        await page.locator("#messages li", { hasText: said(bobId, "Hi Alice") })
          .waitFor();
      }
      await alice.locator("#messages li", {
        hasText: "You wrote: Hello from Alice",
      }).waitFor();
      await bob.close();
      await alice.locator("#messages li", {
        hasText: `Client #${bobId} left the chat`,
      }).waitFor();
      const lines = await alice.locator("#messages li").allTextContents();
      assert.deepEqual(lines, [
        "You wrote: Hello from Alice",
        said(aliceId, "Hello from Alice"),
        said(bobId, "Hi Alice"),
        `Client #${bobId} left the chat`,
      ]);
    } finally {
      await browser.close();
      await app.shutdown({ timeoutMs: 2000 });
      await server.shutdown();
    }
  },
});
