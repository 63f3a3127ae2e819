// Broadcast delivery lag: what a member's session observers are told of
// each live delivery, when a publication carries its time, and that nothing
// reads a clock for it while nobody observes.
import assert from "node:assert/strict";
import { App, type WebSocket } from "../mod.ts";
import {
  Broadcast,
  BroadcastChannelBackend,
  type BroadcastMessage,
  MemoryBackend,
} from "../broadcast.ts";
import { RedisBackend, RedisStreamBackend } from "../broadcast_redis.ts";
import { TestClient } from "../testing.ts";
import { decodeMessage, encodeMessage } from "../_redis_connection.ts";
import { startRedis } from "./_redis.ts";

interface Delivery {
  who: string;
  channel: string;
  lagMs: number;
}

// An app whose sessions record broadcastDelivered(), with a route that
// joins `channel` (resuming from ?epoch=&offset= when given) and says
// "joined" once the join has resolved.
function observedRoom(
  broadcast: Broadcast,
  options: { observe?: boolean; sendHighWaterMark?: number } = {},
): { app: App; deliveries: Delivery[] } {
  const deliveries: Delivery[] = [];
  const app = new App({ sendHighWaterMark: options.sendHighWaterMark });
  if (options.observe ?? true) {
    app.observe({
      accepted: (ws) => ({
        broadcastDelivered: (channel, lagMs) =>
          deliveries.push({ who: ws.pathParams.who as string, channel, lagMs }),
      }),
    });
  }
  app.websocket("/rooms/{channel}/{who}", async (ws: WebSocket) => {
    await ws.accept();
    const epoch = ws.queryParams.get("epoch");
    const since = epoch === null
      ? undefined
      : { epoch, offset: Number(ws.queryParams.get("offset")) };
    await broadcast.join(ws.pathParams.channel as string, ws, { since });
    await ws.sendText("joined");
    await ws.receiveText(); // until the client leaves
  });
  return { app, deliveries };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function assertLags(deliveries: Delivery[], bound: number): void {
  for (const { lagMs } of deliveries) {
    assert.ok(
      Number.isFinite(lagMs) && lagMs >= 0 && lagMs <= bound,
      `lag ${lagMs} ms, expected 0 to ${bound}`,
    );
  }
}

// Records what publish() hands the backend.
class RecordingBackend extends MemoryBackend {
  readonly published: BroadcastMessage[] = [];
  override publish(channel: string, message: BroadcastMessage) {
    this.published.push(message);
    return super.publish(channel, message);
  }
}

Deno.test("Broadcast tells an observed member's session the lag of each live delivery, in ms since publish()", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  const { app, deliveries } = observedRoom(broadcast);
  const client = new TestClient(app);
  await using alice = await client.websocketConnect("/rooms/room/alice");
  await using bob = await client.websocketConnect("/rooms/room/bob");
  assert.equal(await alice.receiveText(), "joined");
  assert.equal(await bob.receiveText(), "joined");
  const start = performance.now();
  for (const text of ["a", "b", "c"]) await broadcast.publish("room", text);
  for (const ws of [alice, bob]) {
    for (const text of ["a", "b", "c"]) {
      assert.equal(await ws.receiveText(), text);
    }
  }
  const bound = performance.now() - start;
  assert.deepEqual(
    deliveries.map(({ who, channel }) => `${who} ${channel}`).sort(),
    [
      "alice room",
      "alice room",
      "alice room",
      "bob room",
      "bob room",
      "bob room",
    ],
  );
  assertLags(deliveries, bound);
  await broadcast.close();
});

Deno.test("Broadcast reports no lag for a replay of history, and does for live messages after it", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  const { app, deliveries } = observedRoom(broadcast);
  const client = new TestClient(app);
  // Alice is there (observed): the publications carry their time.
  await using alice = await client.websocketConnect("/rooms/room/alice");
  assert.equal(await alice.receiveText(), "joined");
  const seen = await broadcast.publish("room", "seen");
  await broadcast.publish("room", "missed 1");
  await broadcast.publish("room", "missed 2");
  await using carol = await client.websocketConnect(
    `/rooms/room/carol?epoch=${seen.epoch}&offset=${seen.offset}`,
  );
  assert.equal(await carol.receiveText(), "missed 1");
  assert.equal(await carol.receiveText(), "missed 2");
  assert.equal(await carol.receiveText(), "joined");
  assert.deepEqual(
    deliveries.map((d) => d.who),
    ["alice", "alice", "alice"],
    "the replay to carol is not reported",
  );
  await broadcast.publish("room", "live");
  assert.equal(await carol.receiveText(), "live");
  assert.deepEqual(
    deliveries.map((d) => d.who).sort(),
    ["alice", "alice", "alice", "alice", "carol"],
  );
  assertLags(deliveries, 10_000);
  await broadcast.close();
});

Deno.test("Broadcast reports the lag of a member over its send high-water mark once the message went out", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  // One byte: every message after the first waits for the buffer to drain.
  const { app, deliveries } = observedRoom(broadcast, { sendHighWaterMark: 1 });
  await using dave = await new TestClient(app).websocketConnect(
    "/rooms/room/dave",
  );
  assert.equal(await dave.receiveText(), "joined");
  // Not awaited one by one: the deliveries meet a full buffer.
  await Promise.all(
    ["a", "b", "c", "d"].map((text) => broadcast.publish("room", text)),
  );
  for (const text of ["a", "b", "c", "d"]) {
    assert.equal(await dave.receiveText(), text);
  }
  await until(() => deliveries.length === 4, "four deliveries reported");
  assertLags(deliveries, 10_000);
  await broadcast.close();
});

Deno.test("publish() stamps no time while no member is observed, and does while one is", async () => {
  const backend = new RecordingBackend();
  const broadcast = new Broadcast(backend);
  const quiet = observedRoom(broadcast, { observe: false });
  const watched = observedRoom(broadcast);
  {
    await using ws = await new TestClient(quiet.app).websocketConnect(
      "/rooms/room/quiet",
    );
    assert.equal(await ws.receiveText(), "joined");
    await broadcast.publish("room", "nobody observes");
    assert.equal(await ws.receiveText(), "nobody observes");
    {
      await using observed = await new TestClient(watched.app)
        .websocketConnect("/rooms/room/watched");
      assert.equal(await observed.receiveText(), "joined");
      await broadcast.publish("room", "observed");
      assert.equal(await observed.receiveText(), "observed");
      assert.equal(await ws.receiveText(), "observed");
    }
    // The observed member left (its socket closed): no clock again.
    await until(
      () => broadcast.members("room").length === 1,
      "the observed member to leave",
    );
    await broadcast.publish("room", "nobody again");
    assert.equal(await ws.receiveText(), "nobody again");
  }
  assert.deepEqual(
    backend.published.map((m) => [m.data, typeof m.time]),
    [
      ["nobody observes", "undefined"],
      ["observed", "number"],
      ["nobody again", "undefined"],
    ],
  );
  assert.ok(!("time" in backend.published[0]), "no time field at all");
  assert.deepEqual(watched.deliveries.map((d) => d.who), ["watched"]);
  await broadcast.close();
});

Deno.test("A session observer that throws is logged and the other members still get the message", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  const app = new App();
  app.observe({
    accepted: () => ({
      broadcastDelivered: () => {
        throw new Error("observer bug");
      },
    }),
  });
  app.websocket("/rooms/{who}", async (ws) => {
    await ws.accept();
    await broadcast.join("room", ws);
    await ws.sendText("joined");
    await ws.receiveText();
  });
  const client = new TestClient(app);
  await using first = await client.websocketConnect("/rooms/first");
  await using second = await client.websocketConnect("/rooms/second");
  assert.equal(await first.receiveText(), "joined");
  assert.equal(await second.receiveText(), "joined");
  const logged: unknown[][] = [];
  const error = console.error;
  console.error = (...data: unknown[]) => logged.push(data);
  try {
    await broadcast.publish("room", "hi");
  } finally {
    console.error = error;
  }
  assert.equal(await first.receiveText(), "hi");
  assert.equal(await second.receiveText(), "hi");
  assert.equal(logged.length, 2);
  assert.match(
    String(logged[0][0]),
    /^Broadcast: a session observer's broadcastDelivered\(\) threw on "room":$/,
  );
  assert.equal((logged[0][1] as Error).message, "observer bug");
  await broadcast.close();
});

Deno.test("BroadcastChannelBackend carries the publish time to the other isolates' members", async () => {
  const name = `lag-${crypto.randomUUID()}`;
  const a = new Broadcast(new BroadcastChannelBackend(name));
  const b = new Broadcast(new BroadcastChannelBackend(name));
  const nodeA = observedRoom(a);
  const nodeB = observedRoom(b);
  try {
    // Node A publishes; it has an observed member, so it stamps.
    await using onA = await new TestClient(nodeA.app).websocketConnect(
      "/rooms/room/a",
    );
    await using onB = await new TestClient(nodeB.app).websocketConnect(
      "/rooms/room/b",
    );
    assert.equal(await onA.receiveText(), "joined");
    assert.equal(await onB.receiveText(), "joined");
    const start = performance.now();
    await a.publish("room", "from a");
    assert.equal(await onB.receiveText(), "from a");
    assert.equal(await onA.receiveText(), "from a");
    assert.deepEqual(nodeB.deliveries.map((d) => d.who), ["b"]);
    assertLags(nodeB.deliveries, performance.now() - start);
    assert.deepEqual(nodeA.deliveries.map((d) => d.who), ["a"]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("The Redis payload with a publish time: both formats read, the time only written when asked", () => {
  const messages: BroadcastMessage[] = [
    { kind: "text", data: "héllo" },
    { kind: "bytes", data: new Uint8Array([0, 64, 255]) },
    { kind: "json", data: '{"n":1}' },
  ];
  for (const message of messages) {
    const time = 1_796_000_000_123.456;
    const timed = encodeMessage({ ...message, time }, true);
    assert.equal(timed[0], 0x40); // "@"
    assert.deepEqual(decodeMessage(timed), { ...message, time });
    // Not asked: the format of before, whatever the message holds.
    const plain = encodeMessage({ ...message, time }, false);
    assert.deepEqual(plain, encodeMessage(message));
    assert.notEqual(plain[0], 0x40);
    assert.deepEqual(decodeMessage(plain), message);
  }
  // Truncated, or a time around a time: not ours, dropped like any other.
  assert.equal(decodeMessage(new Uint8Array([0x40, 1, 2, 3])), null);
  const twice = encodeMessage({ kind: "text", data: "x", time: 1 }, true);
  const nested = new Uint8Array(9 + twice.length);
  nested[0] = 0x40;
  nested.set(twice, 9);
  assert.equal(decodeMessage(nested), null);
});

Deno.test("[redis] publishTime: true carries the time to every node, which reads both formats", async () => {
  const redis = await startRedis();
  // Node A only publishes (no members); node B reads without the option.
  const timed = new Broadcast(
    new RedisBackend({ url: redis.url, publishTime: true }),
  );
  const plain = new Broadcast(new RedisBackend({ url: redis.url }));
  const reader = new Broadcast(new RedisBackend({ url: redis.url }));
  const { app, deliveries } = observedRoom(reader);
  try {
    await using ws = await new TestClient(app).websocketConnect(
      "/rooms/room/b",
    );
    assert.equal(await ws.receiveText(), "joined");
    const start = performance.now();
    await timed.publish("room", "stamped");
    assert.equal(await ws.receiveText(), "stamped");
    assert.deepEqual(deliveries.map((d) => d.who), ["b"]);
    assertLags(deliveries, performance.now() - start);
    // A publisher without the option: delivered, just not measured.
    await plain.publish("room", { n: 1 });
    assert.equal(await ws.receiveText(), '{"n":1}');
    assert.equal(deliveries.length, 1);
  } finally {
    await timed.close();
    await plain.close();
    await reader.close();
    await redis.stop();
  }
});

Deno.test("[redis] RedisStreamBackend with publishTime: live lag measured, and stamped entries replay like any other", async () => {
  const redis = await startRedis();
  const timed = new Broadcast(
    new RedisStreamBackend({ url: redis.url, publishTime: true }),
  );
  const reader = new Broadcast(new RedisStreamBackend({ url: redis.url }));
  const { app, deliveries } = observedRoom(reader);
  try {
    const client = new TestClient(app);
    await using live = await client.websocketConnect("/rooms/room/live");
    assert.equal(await live.receiveText(), "joined");
    const first = await timed.publish("room", "one");
    const start = performance.now();
    await timed.publish("room", new Uint8Array([2]));
    assert.equal(await live.receiveText(), "one");
    assert.deepEqual(await live.receiveBytes(), new Uint8Array([2]));
    assert.deepEqual(deliveries.map((d) => d.who), ["live", "live"]);
    assertLags(deliveries.slice(1), performance.now() - start);
    assertLags(deliveries, 10_000);
    // A client resuming from the first: the stamped entry is replayed
    // (not reported), then live.
    await using late = await client.websocketConnect(
      `/rooms/room/late?epoch=${first.epoch}&offset=${first.offset}`,
    );
    assert.deepEqual(await late.receiveBytes(), new Uint8Array([2]));
    assert.equal(await late.receiveText(), "joined");
    assert.equal(deliveries.length, 2);
    await timed.publish("room", "three");
    assert.equal(await late.receiveText(), "three");
    assert.equal(await live.receiveText(), "three");
    assert.deepEqual(
      deliveries.map((d) => d.who).sort(),
      ["late", "live", "live", "live"],
    );
  } finally {
    await timed.close();
    await reader.close();
    await redis.stop();
  }
});
