// Limits over real sockets, with a raw TCP client the test fully controls.
import assert from "node:assert/strict";
import net from "node:net";
import { z } from "zod";
import {
  App,
  defineProtocol,
  type WebSocket as ServerSocket,
  WebSocketDisconnect,
} from "../mod.ts";
import { TestClient, WebSocketDenialResponse } from "../testing.ts";
import { addressKey } from "../_client_key.ts";
import { rawHandshake } from "./_raw_client.ts";
import { captureLogger } from "./_transports.ts";

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("WebSocket.sendBytes() waits while a client that never reads is above sendHighWaterMark", async () => {
  const app = new App({
    sendHighWaterMark: 64 * 1024,
    logger: captureLogger(),
  });
  const chunk = new Uint8Array(16 * 1024);
  let sent = 0;
  const ended = Promise.withResolvers<unknown>();
  app.websocket("/firehose", async (ws) => {
    await ws.accept();
    try {
      // Bounded: without backpressure this would fill memory until the limit.
      while (sent < 16_384) {
        await ws.sendBytes(chunk);
        sent++;
      }
      ended.resolve("never blocked");
    } catch (error) {
      ended.resolve(error);
    }
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const { status, conn } = await rawHandshake(server.addr.port, "/firehose");
    assert.equal(status, 101);
    // The kernel's socket buffers absorb some megabytes first; then the
    // sender must stop and stay stopped.
    let last = -1;
    await until(() => {
      const stalled = sent === last && sent > 0;
      last = sent;
      return stalled;
    }, "the sender to stall");
    const stalledAt = sent;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sent, stalledAt, "no progress while the client reads nothing");
    assert.ok(sent < 16_384, `bounded: ${sent} chunks of 16 KiB`);
    // The client vanishes: the waiting send rejects with WebSocketDisconnect.
    conn.close();
    const error = await ended.promise;
    assert.ok(error instanceof WebSocketDisconnect, String(error));
    assert.equal(error.code, 1006);
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});

Deno.test("A client that vanishes mid-receive ends the handler with 1006 and frees the connection", async () => {
  const app = new App();
  const seen = Promise.withResolvers<unknown>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    seen.resolve(await ws.receiveText().catch((e) => e));
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const { status, conn } = await rawHandshake(server.addr.port, "/ws");
    assert.equal(status, 101);
    await until(() => app.connections === 1, "the handler to start");
    conn.close();
    const error = await seen.promise;
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 1006);
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});

// --- Abuse limits: rateLimit, maxConnections, maxConnectionsPerClient, maxLifetime

// An upgrade request from a chosen source address (127.0.0.1 or 127.0.0.2),
// over node:net, which can bind the local side; resolves with the status
// and the open socket.
async function handshakeFrom(
  localAddress: string,
  port: number,
  path: string,
): Promise<{ status: number; headers: Headers; socket: net.Socket }> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(
    [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      "",
      "",
    ].join("\r\n"),
  );
  const head = await new Promise<string>((resolve, reject) => {
    let text = "";
    const onData = (chunk: Uint8Array) => {
      text += new TextDecoder().decode(chunk);
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        socket.off("data", onData);
        resolve(text.slice(0, end));
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
  const [statusLine, ...lines] = head.split("\r\n");
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(" ")[1]), headers, socket };
}

function destroy(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.once("close", () => resolve());
    socket.destroy();
  });
}

function holdingApp(options: ConstructorParameters<typeof App>[0]): App {
  const app = new App({ logger: captureLogger(), ...options });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    // Held open until the client goes.
    await ws.receiveText().catch(() => {});
  });
  return app;
}

Deno.test("maxConnectionsPerClient: the cap counts per source address (127.0.0.1 vs 127.0.0.2), 429 with Retry-After", async () => {
  const app = holdingApp({ maxConnectionsPerClient: 2 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  const open: net.Socket[] = [];
  try {
    const { port } = server.addr;
    for (let i = 0; i < 2; i++) {
      const first = await handshakeFrom("127.0.0.1", port, "/ws");
      open.push(first.socket);
      assert.equal(first.status, 101, `connection ${i + 1} of 2 passes`);
    }
    const third = await handshakeFrom("127.0.0.1", port, "/ws");
    open.push(third.socket);
    assert.equal(third.status, 429);
    assert.equal(third.headers.get("retry-after"), "5");
    // Another client is not affected by the first one's cap.
    const other = await handshakeFrom("127.0.0.2", port, "/ws");
    open.push(other.socket);
    assert.equal(other.status, 101);
    // Once one of the first client's connections ends, it may connect again.
    await destroy(open[0]);
    await until(() => app.connections === 2, "the connection to end");
    const again = await handshakeFrom("127.0.0.1", port, "/ws");
    open.push(again.socket);
    assert.equal(again.status, 101);
  } finally {
    await Promise.all(open.slice(1).map(destroy));
    await until(() => app.connections === 0, "every connection to end");
    await server.shutdown();
  }
});

Deno.test("maxConnections: the connection at the cap passes, the next gets 503 with Retry-After", async () => {
  const app = holdingApp({ maxConnections: 2 });
  const client = new TestClient(app);
  const first = await client.websocketConnect("/ws");
  const second = await client.websocketConnect("/ws");
  const refused = await client.websocketConnect("/ws").catch((e) => e);
  assert.ok(refused instanceof WebSocketDenialResponse);
  assert.equal(refused.response.status, 503);
  assert.equal(refused.response.headers.get("retry-after"), "5");
  await first.close();
  await until(() => app.connections === 1, "the first connection to end");
  const third = await client.websocketConnect("/ws");
  await second.close();
  await third.close();
});

Deno.test("maxConnections on a route counts that route only", async () => {
  const app = holdingApp({});
  app.websocket("/one", { maxConnections: 1 }, async (ws) => {
    await ws.accept();
    await ws.receiveText().catch(() => {});
  });
  const client = new TestClient(app);
  const one = await client.websocketConnect("/one");
  const refused = await client.websocketConnect("/one").catch((e) => e);
  assert.equal(refused.response.status, 503);
  const other = await client.websocketConnect("/ws");
  await one.close();
  await other.close();
});

Deno.test("maxConnectionsPerClient keys by clientKey, falling back to the address", async () => {
  const app = holdingApp({
    maxConnectionsPerClient: 1,
    clientKey: (conn) => conn.queryParams.get("user") ?? undefined,
  });
  const client = new TestClient(app);
  const ann = await client.websocketConnect("/ws?user=ann");
  const again = await client.websocketConnect("/ws?user=ann").catch((e) => e);
  assert.equal(again.response.status, 429);
  assert.equal(again.response.headers.get("retry-after"), "5");
  const bo = await client.websocketConnect("/ws?user=bo");
  // No user: the address (the test client's) has room for one.
  const anonymous = await client.websocketConnect("/ws");
  await ann.close();
  await bo.close();
  await anonymous.close();
});

Deno.test("maxConnectionsPerClient reads X-Forwarded-For only with trustProxy", async () => {
  const forwarded = (address: string) => ({
    headers: { "x-forwarded-for": `${address}, 10.0.0.9` },
  });
  const trusting = new TestClient(
    holdingApp({ maxConnectionsPerClient: 1, trustProxy: 2 }),
  );
  const a = await trusting.websocketConnect("/ws", forwarded("192.0.2.1"));
  const b = await trusting.websocketConnect("/ws", forwarded("192.0.2.2"));
  const a2 = await trusting.websocketConnect("/ws", forwarded("192.0.2.1"))
    .catch((e) => e);
  assert.equal(a2.response.status, 429);
  // Without trustProxy the header is ignored: both count as the peer.
  const plain = new TestClient(holdingApp({ maxConnectionsPerClient: 1 }));
  const c = await plain.websocketConnect("/ws", forwarded("192.0.2.1"));
  const d = await plain.websocketConnect("/ws", forwarded("192.0.2.2"))
    .catch((e) => e);
  assert.equal(d.response.status, 429);
  await Promise.all([a.close(), b.close(), c.close()]);
});

Deno.test("maxConnectionsPerClient counts an IPv6 client by its /64", async () => {
  const app = holdingApp({ maxConnectionsPerClient: 1 });
  const from = (hostname: string) =>
    new TestClient(app, { client: { hostname, port: 1 } });
  const first = await from("2001:db8:1:2::1").websocketConnect("/ws");
  const sameNet = await from("2001:db8:1:2:ffff:ffff:ffff:ffff")
    .websocketConnect("/ws").catch((e) => e);
  assert.equal(sameNet.response.status, 429);
  const otherNet = await from("2001:db8:1:3::1").websocketConnect("/ws");
  await first.close();
  await otherNet.close();
  assert.equal(addressKey("::ffff:127.0.0.2"), "127.0.0.2");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("[fe80::1%eth0]"), "fe80:0:0:0::/64");
  assert.equal(addressKey("127.0.0.1"), "127.0.0.1");
});

Deno.test("rateLimit: the message that empties the bucket passes, the next closes with 1008", async () => {
  const app = new App({ rateLimit: { messages: 3, perSeconds: 60 } });
  const received: string[] = [];
  const end = Promise.withResolvers<unknown>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    try {
      while (true) received.push(await ws.receiveText());
    } catch (error) {
      end.resolve(error);
    }
  });
  await using ws = await new TestClient(app).websocketConnect("/ws");
  for (const text of ["1", "2", "3", "4", "5"]) await ws.sendText(text);
  const closed = await ws.receiveText().catch((e) => e);
  assert.ok(closed instanceof WebSocketDisconnect);
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, "Rate limit exceeded");
  const error = await end.promise;
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1008);
  assert.deepEqual(received, ["1", "2", "3"]);
});

Deno.test("rateLimit on a protocol route: a message over it is dropped and answered with a rate_limited error, the connection goes on", async () => {
  const chat = defineProtocol({
    receives: { say: z.object({ text: z.string() }) },
    sends: { said: z.object({ text: z.string() }) },
    requests: { echo: { input: z.string(), output: z.string() } },
  });
  const app = new App();
  const received: string[] = [];
  app.websocket(
    "/chat",
    { protocol: chat, rateLimit: { messages: 2, perSeconds: 0.5 } },
    async (ws) => {
      await ws.accept();
      for await (const m of ws.messages()) {
        if (m.type === "say") {
          received.push(m.data.text);
          await ws.emit("said", m.data);
        } else await m.reply(m.data);
      }
    },
  );
  await using ws = await new TestClient(app).websocketConnect("/chat");
  for (const text of ["1", "2", "3"]) {
    await ws.sendJson({ type: "say", data: { text } });
  }
  await ws.sendJson({ type: "echo", id: 7, data: "over" });
  const frames: { type: string }[] = [];
  for (let i = 0; i < 4; i++) frames.push(await ws.receiveJson());
  const error = {
    code: "rate_limited",
    message:
      "Cannot read message: over the rate limit, it was dropped: send fewer messages",
  };
  // The answers to the dropped messages go out at once, ahead of what the
  // handler sends for the ones it reads.
  assert.deepEqual(frames.filter((f) => f.type === "error"), [
    { type: "error", error },
    { type: "error", id: 7, error },
  ]);
  assert.deepEqual(frames.filter((f) => f.type === "said"), [
    { type: "said", data: { text: "1" } },
    { type: "said", data: { text: "2" } },
  ]);
  // The bucket refills (one message per quarter second): the session goes on.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await ws.sendJson({ type: "echo", id: 8, data: "again" });
  assert.deepEqual(await ws.receiveJson(), {
    type: "echo",
    id: 8,
    data: "again",
  });
  assert.deepEqual(received, ["1", "2"]);
});

Deno.test("rateLimit bytes: a message that fits the byte bucket passes, one over it closes with 1008", async () => {
  const app = new App();
  const received: string[] = [];
  app.websocket(
    "/ws",
    { rateLimit: { messages: 100, bytes: 10, perSeconds: 60 } },
    async (ws) => {
      await ws.accept();
      for await (const text of ws.iterText()) received.push(text);
    },
  );
  await using ws = await new TestClient(app).websocketConnect("/ws");
  await ws.sendText("12345");
  await ws.sendText("é234"); // 5 UTF-8 bytes: the bucket is now empty
  await ws.sendText("x");
  const closed = await ws.receiveText().catch((e) => e);
  assert.equal(closed.code, 1008);
  assert.deepEqual(received, ["12345", "é234"]);
});

Deno.test("rateLimit refills over perSeconds", async () => {
  const app = new App({ rateLimit: { messages: 1, perSeconds: 0.05 } });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    for await (const text of ws.iterText()) await ws.sendText(text);
  });
  await using ws = await new TestClient(app).websocketConnect("/ws");
  for (const text of ["a", "b", "c"]) {
    await ws.sendText(text);
    assert.equal(await ws.receiveText(), text);
    // (50 ms refills the one token; waiting longer stays within the burst.)
    await new Promise((resolve) => setTimeout(resolve, 120));
  }
});

Deno.test("maxLifetime closes an accepted connection with 1001 within its last tenth", async () => {
  const app = new App({ maxLifetime: 0.3 });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.receiveText().catch(() => {});
  });
  const started = performance.now();
  await using ws = await new TestClient(app).websocketConnect("/ws");
  const closed = await ws.receiveText().catch((e) => e);
  const elapsed = performance.now() - started;
  assert.ok(closed instanceof WebSocketDisconnect);
  assert.equal(closed.code, 1001);
  assert.equal(closed.reason, "Maximum connection lifetime reached");
  // The jitter takes at most 10 % off; a busy machine only adds.
  assert.ok(elapsed >= 0.3 * 0.9 * 1000 - 5, `closed after ${elapsed} ms`);
});

Deno.test("maxLifetime spreads the closes of connections opened together over its last tenth", async () => {
  // 12 connections of 3 s: each is closed after its own draw between 2.7 s
  // and 3 s. Without the jitter none could close before 3 s, nor would
  // they spread; 12 draws over 300 ms all fall within 90 ms of each other,
  // or all after 2.9 s, about once in 10^5 runs. A busy machine only adds.
  const lifetimeMs = 3000;
  const app = new App({ maxLifetime: lifetimeMs / 1000 });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.receiveText().catch(() => {});
  });
  const client = new TestClient(app);
  const sessions = await Promise.all(
    Array.from({ length: 12 }, async () => {
      const started = performance.now();
      const ws = await client.websocketConnect("/ws");
      const closed = await ws.receiveText().catch((e) => e);
      return { ws, closed, elapsed: performance.now() - started };
    }),
  );
  for (const { ws, closed } of sessions) {
    assert.ok(closed instanceof WebSocketDisconnect);
    assert.equal(closed.code, 1001);
    assert.equal(closed.reason, "Maximum connection lifetime reached");
    await ws.close();
  }
  const elapsed = sessions.map((s) => s.elapsed).sort((a, b) => a - b);
  const seen = elapsed.map((ms) => Math.round(ms)).join(", ");
  assert.ok(elapsed[0] >= lifetimeMs * 0.9 - 5, `closed after ${seen} ms`);
  assert.ok(elapsed[0] < lifetimeMs * 0.97, `none early: ${seen} ms`);
  assert.ok(elapsed.at(-1)! - elapsed[0] >= 90, `not spread: ${seen} ms`);
  // Only a guard against a close that never comes on its own.
  assert.ok(elapsed.at(-1)! < lifetimeMs + 5000, `closed after ${seen} ms`);
});

Deno.test("maxLifetime on a route closes its connections with 1001, over the app's, and leaves other routes open", async () => {
  const app = new App({ maxLifetime: 60 });
  const echo = async (ws: ServerSocket) => {
    await ws.accept();
    try {
      for await (const text of ws.iterText()) await ws.sendText(text);
    } catch {
      // closed by the lifetime
    }
  };
  app.websocket("/short", { maxLifetime: 0.3 }, echo);
  app.websocket("/long", echo);
  const client = new TestClient(app);
  const started = performance.now();
  await using short = await client.websocketConnect("/short");
  await using long = await client.websocketConnect("/long");
  // (Were the route's limit ignored, the app's would close it after 54 s.)
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    short.receiveText().catch((e) => e),
    new Promise((resolve) => timer = setTimeout(resolve, 10_000, "open")),
  ]);
  clearTimeout(timer);
  const elapsed = performance.now() - started;
  assert.ok(closed instanceof WebSocketDisconnect, String(closed));
  assert.equal(closed.code, 1001);
  assert.equal(closed.reason, "Maximum connection lifetime reached");
  assert.ok(elapsed >= 0.3 * 0.9 * 1000 - 5, `closed after ${elapsed} ms`);
  // The app's 60 s still hold on the other route.
  await long.sendText("still open");
  assert.equal(await long.receiveText(), "still open");
  await long.close();
});

Deno.test("App and routes reject invalid limits with a clear error", () => {
  assert.throws(() => new App({ maxConnections: 0 }), {
    name: "RangeError",
    message: /Cannot create App: maxConnections must be a positive integer/,
  });
  assert.throws(
    () => new App({ rateLimit: { messages: 0, perSeconds: 1 } }),
    { name: "RangeError", message: /rateLimit must be/ },
  );
  assert.throws(() => new App({ trustProxy: -1 }), {
    name: "RangeError",
    message: /trustProxy/,
  });
  assert.throws(
    () => new App().websocket("/ws", { maxLifetime: -1 }, () => {}),
    {
      name: "RangeError",
      message: /Cannot register route "\/ws": maxLifetime must be/,
    },
  );
});

Deno.test("rateLimit over a real socket: Deno's client sees 1008 after the bucket's last message, and the access log the close", async () => {
  const lines: string[] = [];
  const app = new App({
    rateLimit: { messages: 2, perSeconds: 60 },
    logger: { ...captureLogger(), info: (line) => lines.push(String(line)) },
  });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    for await (const text of ws.iterText()) await ws.sendText(text);
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
    const echoes: string[] = [];
    let echoed = Promise.withResolvers<void>();
    socket.onmessage = (event) => {
      echoes.push(event.data);
      echoed.resolve();
    };
    const closed = new Promise<CloseEvent>((resolve) =>
      socket.onclose = resolve
    );
    await new Promise((resolve) => socket.onopen = resolve);
    // One at a time, so that every echo goes out before the limit closes.
    for (const text of ["a", "b"]) {
      echoed = Promise.withResolvers<void>();
      socket.send(text);
      await echoed.promise;
    }
    socket.send("c");
    const event = await closed;
    assert.equal(event.code, 1008);
    assert.equal(event.reason, "Rate limit exceeded");
    assert.deepEqual(echoes, ["a", "b"]);
    await until(() => app.connections === 0, "the connection to end");
    await until(() => lines.length === 1, "the access log line");
    assert.match(
      lines[0],
      /^WebSocket session ended: "\/ws" code 1008 "Rate limit exceeded" after \d+ ms/,
    );
    assert.match(
      lines[0],
      /, in 2 messages \(2 B\), out 2 messages \(2 B\)$/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("A clientKey that throws refuses the handshake with 500 and logs the error", async () => {
  const logger = captureLogger();
  const app = new App({
    logger,
    maxConnectionsPerClient: 1,
    clientKey: () => {
      throw new Error("no session store");
    },
  });
  app.websocket("/ws", (ws) => ws.accept());
  const refused = await new TestClient(app).websocketConnect("/ws").catch((
    e,
  ) => e);
  assert.equal(refused.response.status, 500);
  assert.equal(await refused.response.text(), "Internal Server Error");
  assert.match(String(logger.errors[0][0]), /clientKey for "\/ws"/);
  assert.equal((logger.errors[0][1] as Error).message, "no session store");
});
