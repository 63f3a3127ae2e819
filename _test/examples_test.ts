// The examples, driven the way FastAPI's tutorial tests drive theirs.
import assert from "node:assert/strict";
import { WebSocketDisconnect } from "../mod.ts";
import { TestClient } from "../testing.ts";
import echo from "../examples/echo/main.ts";
import chat from "../examples/chat/main.ts";

Deno.test("examples/echo serves the page and echoes messages", async () => {
  const client = new TestClient(echo);
  const page = await client.get("/");
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(
    await page.text(),
    /<form action="" onsubmit="sendMessage\(event\)">/,
  );
  await using ws = await client.websocketConnect("/ws");
  await ws.sendText("Hello WebSocket");
  assert.equal(await ws.receiveText(), "Message text was: Hello WebSocket");
  await ws.sendText("again");
  assert.equal(await ws.receiveText(), "Message text was: again");
});

Deno.test("examples/chat broadcasts messages and departures", async () => {
  const client = new TestClient(chat);
  assert.match(await (await client.get("/")).text(), /Your ID/);
  const a = await client.websocketConnect("/ws/1234");
  const b = await client.websocketConnect("/ws/5678");
  await a.sendText("Hello everyone");
  assert.equal(await a.receiveText(), "You wrote: Hello everyone");
  assert.equal(await a.receiveText(), "Client #1234 says: Hello everyone");
  assert.equal(await b.receiveText(), "Client #1234 says: Hello everyone");
  await b.close();
  assert.equal(await a.receiveText(), "Client #5678 left the chat");
  await a.close();
  const bad = await client.websocketConnect("/ws/not-a-number").catch((e) => e);
  assert.ok(bad instanceof WebSocketDisconnect);
});
