// Micro-benchmarks of the per-message path and routing, in memory.
//   deno task bench
import { App } from "../mod.ts";
import { TestClient } from "../testing.ts";
import { SocketDriver } from "../_socket_driver.ts";

const LIMITS = {
  maxMessageSize: 1024 * 1024,
  maxQueuedMessages: 1 << 30,
  sendHighWaterMark: 1024 * 1024,
};
const text = "x".repeat(64);

Deno.bench("receive queue: 1000 queued text messages, drained", {
  group: "queue",
  baseline: true,
}, () => {
  const driver = new SocketDriver(LIMITS);
  const event = new MessageEvent("message", { data: text });
  for (let i = 0; i < 1000; i++) driver.handleEvent(event);
  for (let i = 0; i < 1000; i++) driver.next();
});

Deno.bench("receive queue: 1000 messages to a waiting receiver", {
  group: "queue",
}, async () => {
  const driver = new SocketDriver(LIMITS);
  const event = new MessageEvent("message", { data: text });
  for (let i = 0; i < 1000; i++) {
    const next = driver.next();
    driver.handleEvent(event);
    await next;
  }
});

const echo = new App();
echo.websocket("/echo", async (ws) => {
  await ws.accept();
  for await (const message of ws.iterText()) await ws.sendText(message);
});
const session = await new TestClient(echo).websocketConnect("/echo");

Deno.bench("in-memory echo round trip, 64-byte text", async () => {
  await session.sendText(text);
  await session.receiveText();
});

const routes = new App();
for (let i = 0; i < 50; i++) {
  routes.get(`/static/${i}/page`, () => "");
  routes.get(`/param/${i}/{id:int}`, () => "");
}
routes.matchHttp("/", "GET"); // build the tables once

Deno.bench("route match: static path among 100 routes", {
  group: "routes",
  baseline: true,
}, () => {
  routes.matchHttp("/static/49/page", "GET");
});

Deno.bench("route match: last parametrised path among 100 routes", {
  group: "routes",
}, () => {
  routes.matchHttp("/param/49/123", "GET");
});

globalThis.addEventListener("unload", () => void session.close());
