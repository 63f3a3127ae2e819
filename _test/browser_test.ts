// The chat page in a real browser: Debian's Chromium driven by
// playwright-core. Two people chat by name; each sees the other join, every
// message once, and the departure; when the server goes away the page says
// it is reconnecting, and when a server is back it is connected again. A
// screenshot of each state is kept in _test/artifacts/ (git-ignored).
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import app, { chatApp } from "../examples/chat/main.ts";
import { Broadcast, MemoryBackend } from "../broadcast.ts";
import { launchChromium, screenshot } from "./_chromium.ts";

function lines(page: Page): Promise<string[]> {
  return page.locator("#messages li").allTextContents();
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

Deno.test({
  name:
    "Chat page in Chromium: names, notices, own messages once, and a visible reconnect",
  async fn() {
    const browser = await launchChromium();
    let server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      app.fetch,
    );
    const port = server.addr.port;
    const second = new Broadcast(new MemoryBackend());
    const restarted = chatApp(second);
    try {
      const url = `http://127.0.0.1:${port}/`;
      const alice = await browser.newPage();
      const bob = await browser.newPage();
      const errors: string[] = [];
      for (const page of [alice, bob]) {
        page.on("pageerror", (error) => errors.push(error.message));
      }
      await alice.goto(`${url}?name=Alice`);
      await alice.locator("#status", { hasText: "Connected as Alice" })
        .waitFor();
      await bob.goto(url);
      // Bob picks his name in the form.
      await bob.fill("#name", "Bob");
      await bob.click("#join button");
      await bob.locator("#status", { hasText: "Connected as Bob" }).waitFor();
      await alice.locator("#messages li", { hasText: "Bob joined" }).waitFor();

      await say(alice, "Hello from Alice");
      await say(bob, "Hi Alice");
      for (const page of [alice, bob]) {
        await page.locator("#messages li", { hasText: "Hi Alice" }).waitFor();
      }
      await bob.close();
      await alice.locator("#messages li", { hasText: "Bob left" }).waitFor();
      assert.deepEqual(await lines(alice), [
        "Alice joined",
        "Bob joined",
        "youHello from Alice", // (two spans: "you" and the text)
        "BobHi Alice",
        "Bob left",
      ]);
      assert.equal(
        await alice.locator("#messages li.own").count(),
        1,
        "Alice's own message is shown once",
      );
      await screenshot(alice, "chat.png");

      // The server goes away: the page says so, and keeps trying.
      await app.shutdown({ timeoutMs: 2000 });
      await server.shutdown();
      await alice.locator('#status[data-state="reconnecting"]', {
        hasText: "Disconnected, reconnecting",
      }).waitFor();
      assert.equal(await alice.locator("#say button").isDisabled(), true);
      await screenshot(alice, "chat-reconnecting.png");

      // A server is back on the same address: the page reconnects by itself.
      server = Deno.serve(
        { hostname: "127.0.0.1", port, onListen() {} },
        restarted.fetch,
      );
      await alice.locator("#status", { hasText: "Connected as Alice" })
        .waitFor({ timeout: 20_000 });
      await say(alice, "Back again");
      await alice.locator("#messages li.own", { hasText: "Back again" })
        .waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await app.shutdown({ timeoutMs: 2000 });
      await restarted.shutdown({ timeoutMs: 2000 });
      await server.shutdown();
      await second.close();
    }
  },
});
