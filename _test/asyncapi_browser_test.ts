// /docs in a real browser: Debian's Chromium driven by playwright-core, no
// network but 127.0.0.1. The console connects to a protocol route, sends a
// message from the form made from its schema and a request, and shows the
// answers; on the chat example, it joins and sees its message said. A
// screenshot of each is kept in _test/artifacts/ (git-ignored).
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { toJsonSchema } from "@valibot/to-json-schema";
import type { App } from "../app.ts";
import { docs, type JsonObject } from "../asyncapi.ts";
import { Broadcast, MemoryBackend } from "../broadcast.ts";
import { chatApp } from "../examples/chat/main.ts";
import { launchChromium, screenshot } from "./_chromium.ts";
import { protocolApp } from "./_protocol_app.ts";

// Serves `app`, opens its /docs in Chromium and runs `test` on the page;
// then the page must have thrown nothing and, being self-contained, loaded
// nothing but itself and the socket.
async function onDocsPage(
  app: App,
  test: (page: Page) => Promise<void>,
): Promise<void> {
  const browser = await launchChromium();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(request.url()));
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${origin}/docs`);
    await test(page);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      requested.filter((url) => !url.startsWith(origin)),
      [],
    );
  } finally {
    await browser.close();
    await app.shutdown({ timeoutMs: 2000 });
    await server.shutdown();
  }
}

async function connect(page: Page): Promise<void> {
  await page.click("#connect");
  await page.locator("#status", { hasText: /^connected/ }).waitFor();
}

async function disconnect(page: Page): Promise<void> {
  await page.click("#connect"); // the same button, now "Disconnect"
  await page.locator("#status", { hasText: "closed (1000)" }).waitFor();
}

Deno.test({
  name:
    "/docs in Chromium: the console connects, sends a message and a request, and shows the answers",
  async fn() {
    const app = protocolApp();
    docs(app, { info: { title: "Chat", version: "1.0.0" } });
    await onDocsPage(app, async (page) => {
      // The reference part lists every channel and what is undescribed.
      await page.locator("#channel-room").waitFor();
      assert.match(
        await page.locator("#channel-room").innerText(),
        /\/rooms\/\{room\}[\s\S]*A chat room/,
      );
      assert.match(
        await page.locator("#undescribed").innerText(),
        /ticker receives\.subscribe/,
      );

      // The HTTP routes are listed too.
      const http = await page.locator("#http").innerText();
      assert.match(http, /^GET\t\/\t$/m);
      assert.match(http, /^GET\t\/asyncapi\.json\t$/m);

      // The console: the first channel is the room; fill path and query.
      assert.equal(await page.inputValue("#channel-select"), "room");
      await page.fill('[name="path-room"]', "lobby");
      await page.fill('[name="query-token"]', "t0k");
      await page.fill('[name="query-nick"]', "ann");
      await connect(page);

      // A message from the form made from `say`'s schema.
      assert.equal(await page.inputValue("#message-select"), "say");
      await page.fill('[name="field-text"]', "hello");
      assert.equal(
        await page.inputValue("#frame"),
        '{"type":"say","data":{"text":"hello"}}',
      );
      await page.click("#send");
      await page.locator("#log li.in", {
        hasText: '{"type":"said","data":{"from":"lobby","text":"hello"}}',
      }).waitFor();

      // A request gets an id, and its answer comes back with it.
      await page.selectOption("#message-select", "history_request");
      await page.fill('[name="field-limit"]', "5");
      assert.equal(
        await page.inputValue("#frame"),
        '{"type":"history","id":1,"data":{"limit":5}}',
      );
      await page.click("#send");
      await page.locator("#log li.in", {
        hasText: '{"type":"history","id":1,"data":["hello"]}',
      }).waitFor();
      // The next request takes the next id.
      assert.equal(
        await page.inputValue("#frame"),
        '{"type":"history","id":2,"data":{"limit":5}}',
      );

      await screenshot(page, "docs_console.png", { fullPage: true });

      await disconnect(page);

      // A route without a protocol: the frame is sent as typed.
      await page.click("#channel-raw button");
      assert.equal(await page.inputValue("#channel-select"), "raw");
      await page.fill('[name="path-id"]', "7");
      await connect(page);
      await page.fill("#frame", "plain text");
      await page.click("#send");
      await page.locator("#log li.in", { hasText: "echo 7: plain text" })
        .waitFor();
      await disconnect(page);
    });
  },
});

Deno.test({
  name:
    "/docs of the chat example in Chromium: the console joins, says a message and sees it said",
  async fn() {
    const broadcast = new Broadcast(new MemoryBackend());
    const app = chatApp(broadcast);
    // valibot has no JSON Schema output of its own: its converter package,
    // as the README shows. It cannot express `v.trim()`: the document says
    // so, and the console takes that message's data as JSON.
    docs(app, {
      info: { title: "Chat", version: "1.0.0" },
      jsonSchema: (schema) =>
        schema["~standard"].vendor === "valibot"
          ? toJsonSchema(
            schema as Parameters<typeof toJsonSchema>[0],
          ) as JsonObject
          : undefined,
    });
    try {
      await onDocsPage(app, async (page) => {
        // The chat's one route, its messages, and what could not be described.
        await page.locator("#channel-ws").waitFor();
        const channel = await page.locator("#channel-ws").innerText();
        for (const type of ["say", "said", "joined", "left"]) {
          assert.match(channel, new RegExp(`→ (?:server|client)${type} `));
        }
        assert.match(
          await page.locator("#undescribed").innerText(),
          /receives\.say[\s\S]*trim/,
        );

        // Connect with a name (the route's query parameter).
        assert.equal(await page.inputValue("#channel-select"), "ws");
        await page.fill('[name="query-name"]', "ann");
        await connect(page);
        await page.locator("#log li.in", { hasText: '"type":"joined"' })
          .waitFor();
        assert.match(
          await page.locator("#log li.in").first().innerText(),
          /"name":"ann"/,
        );

        // `say`: its data typed as JSON; the room says it back, from "ann".
        assert.equal(await page.inputValue("#message-select"), "say");
        await page.fill('[name="field-data"]', '{"text":"hello"}');
        assert.equal(
          await page.inputValue("#frame"),
          '{"type":"say","data":{"text":"hello"}}',
        );
        await page.click("#send");
        await page.locator("#log li.in", { hasText: '"type":"said"' })
          .waitFor();
        assert.match(
          await page.locator("#log li.in", { hasText: '"type":"said"' })
            .innerText(),
          /"data":\{"from":"ann","text":"hello"\}/,
        );

        await screenshot(page, "docs_chat_console.png", { fullPage: true });

        await disconnect(page);
      });
    } finally {
      await broadcast.close();
    }
  },
});
