// Slow-member policy under a saturated server: members whose clients read
// promptly are behind only because the process itself had no time to write
// (its event loop busy with synchronous work between bursts); they must not
// be closed, and must receive everything. A member whose client stops
// reading is still closed with 1013.
import assert from "node:assert/strict";
import { App, WebSocketDisconnect } from "../mod.ts";
import { Broadcast, MemoryBackend } from "../broadcast.ts";
import { rawHandshake } from "./_raw_client.ts";

// Blocks the event loop: no socket is written, no timer fires meanwhile.
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

// Fails, rather than hangs, when what the test waits for never comes.
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out waiting for ${what}`)),
          20_000,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("Broadcast closes with 1013 only the member that stops reading, not those behind because the server is saturated", async () => {
  const SLOW_MS = 300;
  const READERS = 4;
  const BURST = 100; // 100 x 64 KiB = 6.25 MiB per member, far over the HWM
  const ROUNDS = 3;
  const broadcast = new Broadcast(new MemoryBackend(), {
    slowMemberTimeoutMs: SLOW_MS,
  });
  const app = new App({ sendHighWaterMark: 64 * 1024 });
  const ends = new Map<string, unknown>();
  const allJoined = Promise.withResolvers<void>();
  const stalledEnded = Promise.withResolvers<void>();
  app.websocket("/room/{who}", async (ws) => {
    const who = String(ws.pathParams.who);
    await ws.accept();
    await broadcast.join("room", ws);
    if (broadcast.members("room").length === READERS + 1) allJoined.resolve();
    try {
      while (true) await ws.receiveBytes();
    } catch (error) {
      ends.set(who, error);
      if (who === "stalled") stalledEnded.resolve();
    }
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  const port = server.addr.port;
  const stalled = await rawHandshake(port, "/room/stalled"); // never reads
  const readers = Array.from({ length: READERS }, (_, i) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/room/reader${i}`);
    socket.binaryType = "arraybuffer";
    const reader = {
      socket,
      received: 0,
      closed: null as CloseEvent | null,
      target: 0,
      reached: Promise.withResolvers<void>(),
    };
    socket.onmessage = () => {
      if (++reader.received === reader.target) reader.reached.resolve();
    };
    socket.onclose = (event) => {
      reader.closed = event;
      // Fails the wait for its messages, if one is under way.
      reader.reached.reject(
        new Error(`reader${i} closed: ${event.code} ${event.reason}`),
      );
    };
    reader.reached.promise.catch(() => {});
    return reader;
  });
  const everyoneHas = async (target: number) => {
    for (const reader of readers) {
      reader.target = target;
      if (reader.received >= target) continue;
      if (reader.closed !== null) {
        assert.fail(
          `reader${
            readers.indexOf(reader)
          } was closed: ${reader.closed.code} ${reader.closed.reason}`,
        );
      }
      reader.reached = Promise.withResolvers<void>();
      await within(
        reader.reached.promise,
        `reader${readers.indexOf(reader)} to receive ${target} messages`,
      );
    }
  };
  try {
    assert.equal(stalled.status, 101);
    await within(allJoined.promise, "every member to join");
    const chunk = new Uint8Array(64 * 1024);
    let published = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // A burst fills every member's buffer past the high-water mark, so
      // every member has sends waiting; then the process is busy for more
      // than slowMemberTimeoutMs, then another burst. The readers are
      // behind only because nothing could be written meanwhile.
      for (let i = 0; i < BURST; i++) await broadcast.publish("room", chunk);
      busy(SLOW_MS * 2);
      for (let i = 0; i < BURST; i++) await broadcast.publish("room", chunk);
      published += 2 * BURST;
      await everyoneHas(published);
      for (const [i, reader] of readers.entries()) {
        assert.equal(reader.closed, null, `reader${i} was closed`);
      }
      assert.ok(
        broadcast.members("room").length >= READERS,
        "a reader left the room",
      );
    }
    // The stalled member: its sends have waited, with the process free to
    // write, for longer than slowMemberTimeoutMs: the next message closes it.
    await new Promise((resolve) => setTimeout(resolve, SLOW_MS * 2));
    await broadcast.publish("room", chunk);
    published++;
    await within(stalledEnded.promise, "the stalled member to be closed");
    await everyoneHas(published);
    assert.equal(broadcast.members("room").length, READERS);
    for (const reader of readers) assert.equal(reader.received, published);
  } finally {
    stalled.conn.close();
    await Promise.all(readers.map((reader) => {
      if (reader.closed !== null) return;
      const closed = new Promise((resolve) => reader.socket.onclose = resolve);
      reader.socket.close(1000);
      return closed;
    }));
    while (app.connections > 0) await new Promise((r) => setTimeout(r, 10));
    await server.shutdown();
    await broadcast.close();
  }
  const end = ends.get("stalled");
  assert.ok(end instanceof WebSocketDisconnect, String(end));
  assert.equal(end.code, 1013);
  assert.equal(end.reason, "Too slow: try again later");
  for (let i = 0; i < READERS; i++) {
    assert.equal((ends.get(`reader${i}`) as WebSocketDisconnect).code, 1000);
  }
});
