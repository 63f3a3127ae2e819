// The inbound queue under load, over real sockets on 127.0.0.1: with the
// default limits a burst is not a flood; a flood is closed with bounded
// memory.
import assert from "node:assert/strict";
import {
  App,
  type WebSocket as Connection,
  WebSocketDisconnect,
} from "../mod.ts";
import { TestClient } from "../testing.ts";
import { OPCODE, rawHandshake } from "./_raw_client.ts";
import { captureLogger } from "./_transports.ts";

function serve(app: App): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("A burst of 20,000 small messages sent at once reaches a handler that reads them all", async () => {
  const count = 20_000;
  const app = new App();
  const received: string[] = [];
  const ended = Promise.withResolvers<unknown>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    try {
      for await (const text of ws.iterText()) {
        received.push(text);
        // A handler that does real work awaits more than microtasks: Deno
        // reads every frame the kernel holds meanwhile, and they queue.
        if (received.length % 500 === 0) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        if (received.length === count) await ws.sendText("done");
      }
      ended.resolve("the client closed");
    } catch (error) {
      ended.resolve(error);
    }
  });
  const server = serve(app);
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
  const reply = Promise.withResolvers<string>();
  client.onmessage = (event) => reply.resolve(event.data);
  client.onclose = (event) =>
    reply.resolve(`closed ${event.code} ${event.reason}`);
  try {
    await new Promise((resolve) => client.onopen = resolve);
    const padding = "x".repeat(58);
    for (let i = 0; i < count; i++) {
      client.send(`${String(i).padStart(6, "0")}${padding}`);
    }
    // (A queue bound that takes the burst for a flood closes the
    // connection; Deno's client may not even notice.)
    const timer = setTimeout(reply.resolve, 15_000, "no reply in 15 s");
    assert.equal(await reply.promise, "done");
    clearTimeout(timer);
    assert.equal(received.length, count);
    for (let i = 0; i < count; i += 997) {
      assert.equal(received[i].slice(0, 6), String(i).padStart(6, "0"));
    }
  } finally {
    const closed = new Promise((resolve) => client.onclose = resolve);
    client.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      closed,
      new Promise((resolve) => timer = setTimeout(resolve, 5_000)),
    ]);
    clearTimeout(timer);
    await until(() => app.connections === 0, "the connection to end");
    await server.shutdown();
  }
  assert.equal(await ended.promise, "the client closed");
});

Deno.test("A client flooding a handler that never reads is closed with 1008, its queue bounded in memory", async () => {
  // A bound small against the flood, so that the slack is small against
  // what an unbounded queue would hold: without maxQueuedBytes the whole
  // 64 MiB flood is queued (66.5 MiB of heap and external memory measured;
  // maxQueuedMessages alone allows 1 GiB of 16 KiB messages).
  const bound = 1024 * 1024;
  // Measured: 1.23 to 1.38 MiB in all (0.2 to 0.4 MiB over the bound), the
  // same on a loaded machine: the frames in flight and the objects not yet
  // collected. 1 MiB of slack is more than twice that.
  const slack = 1024 * 1024;
  const flood = 64 * 1024 * 1024;
  const app = new App({ maxQueuedBytes: bound, logger: captureLogger() });
  const connection = Promise.withResolvers<Connection>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    connection.resolve(ws);
    await ws.closed; // never reads
  });
  const server = serve(app);
  const memory = () => {
    const { heapUsed, external } = Deno.memoryUsage();
    return heapUsed + external;
  };
  try {
    const { status, conn } = await rawHandshake(server.addr.port, "/ws");
    assert.equal(status, 101);
    const ws = await connection.promise;
    // One masked frame of 16 KiB, built once and written again and again:
    // the client end of the test allocates nothing per frame, so what the
    // process's memory shows is the server's. (A zero masking key is a
    // valid one, RFC 6455 section 5.3.)
    const size = 16 * 1024;
    const frame = new Uint8Array(2 + 2 + 4 + size);
    frame[0] = 0x80 | OPCODE.binary;
    frame[1] = 0x80 | 126;
    new DataView(frame.buffer).setUint16(2, size);
    const before = memory();
    let peak = 0;
    let sent = 0;
    try {
      while (sent < flood) {
        let written = 0;
        while (written < frame.length) {
          written += await conn.write(frame.subarray(written));
        }
        sent += size;
        if (sent % (256 * 1024) === 0) peak = Math.max(peak, memory());
      }
    } catch {
      // The server dropped the connection: the flood is over.
    }
    // (Without a bound the whole flood is queued and nothing closes.)
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = await Promise.race([
      ws.closed,
      new Promise((resolve) => {
        timer = setTimeout(resolve, 10_000, "still open after the flood");
      }),
    ]);
    clearTimeout(timer);
    peak = Math.max(peak, memory());
    conn.close();
    assert.deepEqual(end, { code: 1008, reason: "Too many unread bytes" });
    assert.ok(sent < flood, "the whole flood was read");
    const growth = peak - before;
    assert.ok(
      growth < bound + slack,
      `memory grew by ${(growth / 2 ** 20).toFixed(2)} MiB, over ${
        bound / 2 ** 20
      } MiB + ${slack / 2 ** 20} MiB`,
    );
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});

Deno.test("The in-memory test client meets the same default queue bounds as a real client", async () => {
  const app = new App();
  const ended = Promise.withResolvers<{ code: number; reason: string }>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    ended.resolve(await ws.closed); // never reads
  });
  await using session = await new TestClient(app).websocketConnect("/ws");
  // 64 KiB text messages count 128 KiB (and 32 bytes) each: the 32nd
  // passes 4 MiB.
  const text = "y".repeat(64 * 1024);
  for (let i = 0; i < 32; i++) await session.sendText(text);
  assert.deepEqual(await ended.promise, {
    code: 1008,
    reason: "Too many unread bytes",
  });
  const error = await session.receiveText().catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1008);
});

Deno.test("maxQueuedBytes on a route overrides the app's", async () => {
  const app = new App({ maxQueuedBytes: 1024 * 1024 });
  const ends: { code: number; reason: string }[] = [];
  const handler = async (ws: Connection) => {
    await ws.accept();
    ends.push(await ws.closed); // never reads
  };
  app.websocket("/small", { maxQueuedBytes: 1000 }, handler);
  app.websocket("/app", handler);
  const client = new TestClient(app);
  // A 400-character text counts 832 bytes: the second passes 1000.
  const text = "z".repeat(400);
  for (const path of ["/small", "/app"]) {
    await using session = await client.websocketConnect(path);
    await session.sendText(text);
    await session.sendText(text);
    if (path === "/small") {
      const error = await session.receiveText().catch((e) => e);
      assert.ok(error instanceof WebSocketDisconnect);
      assert.equal(error.code, 1008);
    }
  }
  assert.deepEqual(ends, [
    { code: 1008, reason: "Too many unread bytes" },
    { code: 1000, reason: "" },
  ]);
});
