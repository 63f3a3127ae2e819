// Compile-time tests of typed protocols: `deno check` (and `deno test`)
// must pass this file, and every `@ts-expect-error` must be needed, so each
// marks a mistake the types catch. The runtime test at the end runs the
// same handler, so the declarations are shown to work too.
import assert from "node:assert/strict";
import { z } from "zod";
import { App, defineProtocol, type WebSocket } from "../mod.ts";
import { connect } from "../client.ts";
import { TestClient } from "../testing.ts";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectExact<A, B>(_proof: Equals<A, B>): void {}

const chat = defineProtocol({
  receives: { say: z.object({ text: z.string() }), typing: z.object({}) },
  sends: { said: z.object({ from: z.string(), text: z.string() }) },
  requests: {
    history: {
      input: z.object({ limit: z.number().int().max(100) }),
      output: z.array(z.string()),
    },
  },
});

const app = new App();
app.websocket("/rooms/{room}", { protocol: chat }, async (ws) => {
  await ws.accept();
  // A typed socket still goes wherever a plain WebSocket is taken
  // (dependencies, broadcast.join()).
  const plain: WebSocket = ws;
  void plain;
  for await (const m of ws.messages()) {
    // @ts-expect-error: `data` differs per type; `text` exists only on "say"
    m.data.text;
    // @ts-expect-error: only requests have reply(); narrow by type first
    m.reply;
    if (m.type === "say") {
      expectExact<typeof m.data, { text: string }>(true);
      await ws.emit("said", { from: "room", text: m.data.text });
      // @ts-expect-error: wrong type: "sad" is not in sends
      await ws.emit("sad", { from: "room", text: "" }).catch(() => {});
      // @ts-expect-error: wrong payload: `from` is missing
      await ws.emit("said", { text: "" }).catch(() => {});
      // @ts-expect-error: "say" is a message the server receives, not sends
      await ws.emit("say", { text: "" }).catch(() => {});
    } else if (m.type === "history") {
      expectExact<typeof m.data, { limit: number }>(true);
      expectExact<typeof m.id, string | number>(true);
      // @ts-expect-error: wrong reply type: output is string[]
      await m.reply([1, 2]).catch(() => {});
      await m.reply(["a"]);
    } else {
      expectExact<typeof m.type, "typing">(true);
      // @ts-expect-error: a plain message cannot be answered
      await m.fail("x", "y");
    }
  }
});

async function client(url: string) {
  const room = await connect(chat, url);
  await room.emit("say", { text: "hi" });
  // @ts-expect-error: wrong type: the client sends receives, not sends
  await room.emit("said", { from: "", text: "" });
  // @ts-expect-error: wrong payload
  await room.emit("say", { text: 1 });
  const lines = await room.request("history", { limit: 10 });
  expectExact<typeof lines, string[]>(true);
  // @ts-expect-error: wrong input
  await room.request("history", { limit: "10" });
  // @ts-expect-error: unknown request
  await room.request("future", {});
  for await (const m of room.messages()) {
    // @ts-expect-error: error messages have no `data`; narrow first
    m.data;
    if (m.type === "said") expectExact<typeof m.data.from, string>(true);
    else expectExact<typeof m.error.code, string>(true);
  }
}
void client;

Deno.test("Typed protocol declarations type-check and run", async () => {
  const testClient = new TestClient(app);
  const room = await connect(chat, "ws://testserver/rooms/a", {
    WebSocket: testClient.WebSocket,
  });
  assert.deepEqual(await room.request("history", { limit: 1 }), ["a"]);
  await room.close();
});
