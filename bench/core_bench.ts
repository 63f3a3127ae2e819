// Micro-benchmarks of the per-message path and routing, in memory.
//   deno task bench
import { App, WebSocket } from "../mod.ts";
import { TestClient } from "../testing.ts";
import { SocketDriver } from "../_socket_driver.ts";

const LIMITS = {
  maxMessageSize: 1024 * 1024,
  maxQueuedMessages: 1 << 30,
  maxQueuedBytes: Infinity,
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

// The send path alone: a WebSocket over a socket whose send() does nothing,
// against calling that send() directly.
class NullSocket {
  readyState = 1;
  bufferedAmount = 0;
  binaryType: BinaryType = "arraybuffer";
  sent = 0;
  send(_data: unknown) {
    this.sent++;
  }
  close() {}
  addEventListener() {}
  removeEventListener() {}
}
const nullSocket = new NullSocket();
const request = new Request("http://localhost/ws");
const sender = new WebSocket({
  app: new App(),
  url: new URL(request.url),
  headers: new Headers(),
  request,
  upgrade: () => ({ socket: nullSocket, response: new Response() }),
  respond: () => {},
});
await sender.accept();

Deno.bench("send path: 1000 sendText() awaited, no backpressure", {
  group: "send",
  baseline: true,
}, async () => {
  for (let i = 0; i < 1000; i++) await sender.sendText(text);
});

Deno.bench("send path: 1000 socket.send() (the floor)", {
  group: "send",
}, () => {
  for (let i = 0; i < 1000; i++) nullSocket.send(text);
});

// 100 routes: 50 static, 50 parametrised, interleaved. The comparison is
// the naive approach, one URLPattern.exec() per route in order.
const routes = new App();
const patterns: URLPattern[] = [];
for (let i = 0; i < 50; i++) {
  routes.get(`/static/${i}/page`, () => "");
  routes.get(`/param/${i}/{id:int}`, () => "");
  patterns.push(new URLPattern({ pathname: `/static/${i}/page` }));
  patterns.push(new URLPattern({ pathname: `/param/${i}/:id(\\d+)` }));
}
routes.resolve("/", "GET"); // build the tables once

function scan(pathname: string): URLPatternResult | null {
  for (const pattern of patterns) {
    const result = pattern.exec({ pathname });
    if (result !== null) return result;
  }
  return null;
}

Deno.bench("route match: static path, last of 100 (map)", {
  group: "static route",
  baseline: true,
}, () => {
  routes.resolve("/static/49/page", "GET");
});

Deno.bench("route match: static path, last of 100 (URLPattern scan)", {
  group: "static route",
}, () => {
  scan("/static/49/page");
});

Deno.bench("route match: parametrised path, last of 100 (prefix-checked)", {
  group: "parametrised route",
  baseline: true,
}, () => {
  routes.resolve("/param/49/123", "GET");
});

Deno.bench("route match: parametrised path, last of 100 (URLPattern scan)", {
  group: "parametrised route",
}, () => {
  scan("/param/49/123");
});

globalThis.addEventListener("unload", () => void session.close());
