// The contract every broadcast backend meets, run against each: messages
// cross from one Broadcast (one "process") to another through the backend.
import assert from "node:assert/strict";
import { App, WebSocketDisconnect } from "../mod.ts";
import {
  Broadcast,
  type BroadcastBackend,
  BroadcastChannelBackend,
  type BroadcastEvent,
  MemoryBackend,
} from "../broadcast.ts";
import { RedisBackend } from "../broadcast_redis.ts";
import { TestClient } from "../testing.ts";
import { rawHandshake } from "./_raw_client.ts";
import { startRedis } from "./_redis.ts";

interface Kit {
  /** Two backends sharing one medium, as two processes would. */
  pair(): Promise<[BroadcastBackend, BroadcastBackend]>;
  done(): Promise<void>;
}

let unique = 0;

const KITS: Record<string, () => Promise<Kit>> = {
  memory() {
    const shared = new MemoryBackend();
    return Promise.resolve({
      pair: () => Promise.resolve([shared, shared]),
      done: () => Promise.resolve(),
    });
  },
  broadcastchannel() {
    const name = `contract-${Date.now()}-${unique++}`;
    return Promise.resolve({
      pair: () =>
        Promise.resolve([
          new BroadcastChannelBackend(name),
          new BroadcastChannelBackend(name),
        ]),
      done: () => Promise.resolve(),
    });
  },
  async redis() {
    const redis = await startRedis();
    return {
      pair: () =>
        Promise.resolve([
          new RedisBackend({ url: redis.url }),
          new RedisBackend({ url: redis.url }),
        ]),
      done: () => redis.stop(),
    };
  },
};

function contract(
  name: string,
  test: (a: Broadcast, b: Broadcast) => Promise<void>,
): void {
  for (const [kind, kit] of Object.entries(KITS)) {
    Deno.test(`[${kind}] ${name}`, async () => {
      const k = await kit();
      const [backendA, backendB] = await k.pair();
      const a = new Broadcast(backendA, { slowMemberTimeoutMs: 300 });
      const b = new Broadcast(backendB, { slowMemberTimeoutMs: 300 });
      try {
        await test(a, b);
      } finally {
        await a.close();
        await b.close();
        await k.done();
      }
    });
  }
}

async function take<T>(
  events: AsyncIterableIterator<BroadcastEvent<T>>,
  count: number,
): Promise<BroadcastEvent<T>[]> {
  const out: BroadcastEvent<T>[] = [];
  while (out.length < count) {
    const { value, done } = await events.next();
    if (done) break;
    // Positions (epoch, offset) depend on the backend: tested on their own.
    out.push({ channel: value.channel, data: value.data });
  }
  return out;
}

// A subscription that is live: messages published from now on arrive.
async function live<T>(
  broadcast: Broadcast,
  channel: string,
  signal: AbortSignal,
): Promise<AsyncIterableIterator<BroadcastEvent<T>>> {
  const events = broadcast.subscribe<T>(channel, { signal });
  await events.ready;
  return events;
}

contract("delivers text, bytes and JSON as sent", async (a, b) => {
  const controller = new AbortController();
  const events = await live(b, "room", controller.signal);
  await a.publish("room", "héllo");
  await a.publish("room", new Uint8Array([0, 1, 255]));
  await a.publish("room", { n: 1, list: [true, null], s: "é" });
  await a.publish("other", "not for this subscriber");
  const got = await take(events, 3);
  assert.deepEqual(got, [
    { channel: "room", data: "héllo" },
    { channel: "room", data: new Uint8Array([0, 1, 255]) },
    { channel: "room", data: { n: 1, list: [true, null], s: "é" } },
  ]);
  assert.ok(got[1].data instanceof Uint8Array);
  controller.abort();
});

contract("keeps one publisher's messages in order", async (a, b) => {
  const controller = new AbortController();
  const events = await live<number>(b, "seq", controller.signal);
  const sent = Array.from({ length: 300 }, (_, i) => i);
  await Promise.all(sent.map((i) => a.publish("seq", i)));
  const got = await take(events, 300);
  assert.deepEqual(got.map((event) => event.data), sent);
  controller.abort();
});

contract(
  "subscribe() ends quietly on abort and stops receiving",
  async (a, b) => {
    const controller = new AbortController();
    const events = await live(b, "news", controller.signal);
    await a.publish("news", "one");
    assert.deepEqual(await take(events, 1), [{ channel: "news", data: "one" }]);
    const pending = events.next();
    controller.abort();
    assert.deepEqual(await pending, { value: undefined, done: true });
    await a.publish("news", "after abort");
    assert.deepEqual(await events.next(), { value: undefined, done: true });
    // An already-aborted signal gives an empty iteration.
    const none = b.subscribe("news", { signal: AbortSignal.abort() });
    assert.deepEqual(await none.next(), { value: undefined, done: true });
  },
);

contract(
  "join() delivers to sockets, and a socket leaves when it disconnects",
  async (a, b) => {
    const app = new App();
    const joined = Promise.withResolvers<void>();
    let count = 0;
    app.websocket("/room", async (ws) => {
      await ws.accept();
      await b.join("room", ws);
      if (++count === 2) joined.resolve();
      for await (const _ of ws.iterText()) { /* wait for the end */ }
    });
    const client = new TestClient(app);
    const first = await client.websocketConnect("/room");
    const second = await client.websocketConnect("/room");
    await joined.promise;
    assert.equal(b.members("room").length, 2);
    await a.publish("room", "text");
    await a.publish("room", new Uint8Array([7]));
    await a.publish("room", { json: true });
    for (const session of [first, second]) {
      assert.equal(await session.receiveText(), "text");
      assert.deepEqual(await session.receiveBytes(), new Uint8Array([7]));
      assert.deepEqual(await session.receiveJson(), { json: true });
    }
    await second.close();
    assert.equal(b.members("room").length, 1);
    await a.publish("room", "still here");
    assert.equal(await first.receiveText(), "still here");
    b.leave("room", b.members("room")[0]);
    assert.equal(b.members("room").length, 0);
    await first.close();
  },
);

contract(
  "closes a member that cannot keep up with 1013; the room goes on",
  async (a, b) => {
    const app = new App({ sendHighWaterMark: 64 * 1024 });
    const ends: Record<string, unknown> = {};
    const joined = Promise.withResolvers<void>();
    const slowEnded = Promise.withResolvers<void>();
    let count = 0;
    app.websocket("/room/{who}", async (ws) => {
      const who = String(ws.pathParams.who);
      await ws.accept();
      await b.join("room", ws);
      if (++count === 2) joined.resolve();
      try {
        while (true) await ws.receiveBytes();
      } catch (error) {
        ends[who] = error;
        if (who === "slow") slowEnded.resolve();
      }
    });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      app.fetch,
    );
    const slow = await rawHandshake(server.addr.port, "/room/slow"); // never reads
    const fast = new WebSocket(`ws://127.0.0.1:${server.addr.port}/room/fast`);
    fast.binaryType = "arraybuffer";
    let received = 0;
    let target = 0;
    let reached = Promise.withResolvers<void>();
    fast.onmessage = () => {
      if (++received === target) reached.resolve();
    };
    try {
      assert.equal(slow.status, 101);
      await joined.promise;
      // Rounds of 6.25 MiB bursts: the client that reads drains each; the one
      // that does not fills the kernel's buffers (their size varies with
      // autotuning), then its sends wait. Once they have waited longer than
      // slowMemberTimeoutMs (300 ms) when a message comes, it is closed.
      const chunk = new Uint8Array(64 * 1024);
      let rounds = 0;
      while (b.members("room").length === 2) {
        assert.ok(++rounds <= 20, "the slow member was never closed");
        target += 100;
        reached = Promise.withResolvers<void>();
        for (let i = 0; i < 100; i++) await a.publish("room", chunk);
        await reached.promise;
        await new Promise((resolve) => setTimeout(resolve, 350));
      }
      await slowEnded.promise;
      // The room goes on.
      target += 1;
      reached = Promise.withResolvers<void>();
      await a.publish("room", chunk);
      await reached.promise;
      assert.equal(received, target);
      assert.equal(
        b.members("room").length,
        1,
        "the slow member left the room",
      );
    } finally {
      slow.conn.close();
      const closed = new Promise((resolve) => fast.onclose = resolve);
      fast.close(1000);
      await closed;
      while (app.connections > 0) await new Promise((r) => setTimeout(r, 10));
      await server.shutdown();
    }
    // The slow member's handler saw a disconnect with 1013, not an error.
    const end = ends.slow;
    assert.ok(end instanceof WebSocketDisconnect, String(end));
    assert.equal(end.code, 1013);
    assert.equal(end.reason, "Too slow: try again later");
    assert.equal((ends.fast as WebSocketDisconnect).code, 1000);
  },
);

Deno.test("Broadcast.publish() rejects what has no JSON form, and everything after close()", async () => {
  const broadcast = new Broadcast();
  await assert.rejects(
    broadcast.publish("room", undefined),
    TypeError,
    "has no JSON form",
  );
  await broadcast.close();
  await assert.rejects(
    broadcast.publish("room", "x"),
    Error,
    "the Broadcast is closed",
  );
  assert.throws(
    () => broadcast.subscribe("room"),
    Error,
    "the Broadcast is closed",
  );
});

Deno.test("Broadcast.join() needs an accepted socket", async () => {
  const broadcast = new Broadcast();
  const app = new App();
  const error = Promise.withResolvers<unknown>();
  app.websocket("/ws", async (ws) => {
    try {
      await broadcast.join("room", ws);
    } catch (e) {
      error.resolve(e);
    }
    await ws.close();
  });
  await new TestClient(app).websocketConnect("/ws").catch(() => {});
  assert.match(
    String(await error.promise),
    /Cannot join "room": the WebSocket is not connected/,
  );
  await broadcast.close();
});

Deno.test("A subscriber that falls too far behind gets an error, not unbounded memory", async () => {
  const broadcast = new Broadcast(new MemoryBackend(), { maxQueuedEvents: 3 });
  const events = broadcast.subscribe("room");
  const first = events.next(); // subscribes
  await broadcast.publish("room", 0);
  const { value } = await first;
  assert.deepEqual([value?.channel, value?.data, value?.offset], [
    "room",
    0,
    1,
  ]);
  for (let i = 1; i <= 4; i++) await broadcast.publish("room", i);
  await assert.rejects(
    events.next(),
    Error,
    'the subscription to "room" has 3 undelivered events',
  );
  await events.return!();
  await broadcast.close();
});

Deno.test("[redis] publish rejects while Redis is away, and delivery resumes after a restart", async () => {
  const redis = await startRedis();
  const a = new Broadcast(
    new RedisBackend({ url: redis.url, maxReconnectDelayMs: 100 }),
  );
  const b = new Broadcast(
    new RedisBackend({ url: redis.url, maxReconnectDelayMs: 100 }),
  );
  const controller = new AbortController();
  try {
    const events = await live(b, "room", controller.signal);
    await a.publish("room", "before");
    assert.deepEqual(await take(events, 1), [{
      channel: "room",
      data: "before",
    }]);
    await redis.stop();
    // Not queued, not dropped silently: the caller is told.
    let rejected = 0;
    for (let i = 0; i < 3; i++) {
      await a.publish("room", "while away").then(() => {}, (error) => {
        assert.match(
          String(error),
          /Cannot publish to "room": Redis at redis:\/\/127\.0\.0\.1:\d+ /,
        );
        rejected++;
      });
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    assert.equal(rejected, 3);
    await redis.start();
    // Both sides reconnect and the subscriber subscribes again.
    const deadline = Date.now() + 10_000;
    let delivered: BroadcastEvent | undefined;
    const next = events.next(); // one pending next() throughout
    while (delivered === undefined) {
      if (Date.now() > deadline) {
        throw new Error("no delivery after the restart");
      }
      const ok = await a.publish("room", "after").then(() => true, () => false);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        next,
        new Promise<null>((resolve) =>
          timer = setTimeout(resolve, ok ? 200 : 50, null)
        ),
      ]);
      clearTimeout(timer);
      if (result !== null) delivered = result.value;
    }
    assert.deepEqual(delivered, { channel: "room", data: "after" });
  } finally {
    controller.abort();
    await a.close();
    await b.close();
    await redis.stop();
  }
});

Deno.test("[redis] RedisBackend rejects a URL that is not redis://", () => {
  assert.throws(
    () => new RedisBackend({ url: "http://localhost" }),
    TypeError,
    "is not a redis:// or rediss:// URL",
  );
});
