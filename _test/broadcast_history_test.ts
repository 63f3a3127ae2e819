// Positions, replay and presence, run against each backend with history:
// MemoryBackend, and RedisStreamBackend on a real redis-server.
import assert from "node:assert/strict";
import fc from "fast-check";
import { App } from "../mod.ts";
import {
  Broadcast,
  type BroadcastBackend,
  BroadcastChannelBackend,
  type BroadcastEvent,
  type HistoryResult,
  MemoryBackend,
  type PresenceDiff,
  type StreamPosition,
} from "../broadcast.ts";
import { RedisBackend, RedisStreamBackend } from "../broadcast_redis.ts";
import { TestClient } from "../testing.ts";
import { startRedis } from "./_redis.ts";

type Make = (
  history?: { size?: number; ttlSeconds?: number },
) => BroadcastBackend;

interface Kit {
  make: Make;
  done(): Promise<void>;
}

const KITS: Record<string, () => Promise<Kit>> = {
  memory() {
    // One backend shared by every Broadcast of a test: one process.
    let shared: MemoryBackend | null = null;
    return Promise.resolve({
      make: (history) => shared ??= new MemoryBackend({ history }),
      done: () => Promise.resolve(),
    });
  },
  async redis() {
    const redis = await startRedis();
    const prefix = `t${unique++}:`;
    return {
      make: (history) =>
        new RedisStreamBackend({ url: redis.url, history, prefix }),
      done: () => redis.stop(),
    };
  },
};
let unique = 0;

function contract(
  name: string,
  test: (make: Make) => Promise<void>,
): void {
  for (const [kit, start] of Object.entries(KITS)) {
    Deno.test(`[${kit === "redis" ? "redis" : kit}] ${name}`, async () => {
      const { make, done } = await start();
      try {
        await test(make);
      } finally {
        await done();
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
    out.push(value);
  }
  return out;
}

contract(
  "publish() returns consecutive offsets in one epoch, per channel",
  async (make) => {
    const broadcast = new Broadcast(make());
    try {
      const a1 = await broadcast.publish("a", 1);
      const a2 = await broadcast.publish("a", 2);
      const b1 = await broadcast.publish("b", 1);
      assert.ok(a1 !== null && a2 !== null && b1 !== null);
      assert.equal(typeof a1.epoch, "string");
      assert.ok(!a1.epoch.includes(":"));
      assert.deepEqual([a1.offset, a2.offset, b1.offset], [1, 2, 1]);
      assert.equal(a1.epoch, a2.epoch);
    } finally {
      await broadcast.close();
    }
  },
);

contract(
  "subscribe({ since }) replays what was missed in order, then live, no duplicate",
  async (make) => {
    const a = new Broadcast(make());
    const b = new Broadcast(make());
    const controller = new AbortController();
    try {
      const positions: StreamPosition[] = [];
      for (let n = 0; n < 5; n++) positions.push((await a.publish("room", n))!);
      const events = b.subscribe<number>("room", {
        since: positions[1],
        signal: controller.signal,
      });
      assert.equal(await events.recovered, true);
      await a.publish("room", 5);
      const got = await take(events, 4);
      assert.deepEqual(got.map((e) => e.data), [2, 3, 4, 5]);
      assert.deepEqual(got.map((e) => e.offset), [3, 4, 5, 6]);
      assert.ok(got.every((e) => e.epoch === positions[0].epoch));
      // Nothing missed: recovered, nothing replayed.
      const upToDate = b.subscribe<number>("room", {
        since: got[3] as StreamPosition,
        signal: controller.signal,
      });
      assert.equal(await upToDate.recovered, true);
      await a.publish("room", 6);
      assert.deepEqual((await take(upToDate, 1)).map((e) => e.data), [6]);
    } finally {
      controller.abort();
      await a.close();
      await b.close();
    }
  },
);

contract(
  "more missed than the history holds, or another epoch: recovered false, nothing partial",
  async (make) => {
    const a = new Broadcast(make({ size: 3 }));
    const controller = new AbortController();
    try {
      const first = (await a.publish("room", 0))!;
      for (let n = 1; n <= 5; n++) await a.publish("room", n);
      const events = a.subscribe<number>("room", {
        since: first,
        signal: controller.signal,
      });
      assert.equal(await events.recovered, false);
      await a.publish("room", 6);
      assert.deepEqual((await take(events, 1)).map((e) => e.data), [6]);
      // Exactly the size: still recovered.
      const three = a.subscribe<number>("room", {
        since: { epoch: first.epoch, offset: 4 },
        signal: controller.signal,
      });
      assert.equal(await three.recovered, true);
      assert.deepEqual((await take(three, 3)).map((e) => e.data), [4, 5, 6]);
      for (
        const since of [
          { epoch: "other", offset: 1 },
          { epoch: first.epoch, offset: 99 }, // from the future: not ours
        ]
      ) {
        const wrong = a.subscribe("room", { since, signal: controller.signal });
        assert.equal(await wrong.recovered, false, JSON.stringify(since));
      }
    } finally {
      controller.abort();
      await a.close();
    }
  },
);

contract("history expires after ttlSeconds: recovered false", async (make) => {
  const a = new Broadcast(make({ ttlSeconds: 1 }));
  const controller = new AbortController();
  try {
    const first = (await a.publish("room", 0))!;
    await a.publish("room", 1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const events = a.subscribe("room", {
      since: first,
      signal: controller.signal,
    });
    assert.equal(await events.recovered, false);
  } finally {
    controller.abort();
    await a.close();
  }
});

contract(
  "join(channel, ws, { since }) sends the missed messages first, then live",
  async (make) => {
    const broadcast = new Broadcast(make());
    const app = new App();
    app.websocket("/room", async (ws) => {
      await ws.accept();
      const since = ws.queryParams.get("since");
      const joined = await broadcast.join("room", ws, {
        since: since === null ? undefined : JSON.parse(since),
      });
      await ws.sendJson({ joined });
      for await (const text of ws.iterText()) {
        await broadcast.publish("room", text);
      }
    });
    const client = new TestClient(app);
    try {
      await using first = await client.websocketConnect("/room");
      const { joined } = await first.receiveJson() as {
        joined: { recovered: boolean; position: StreamPosition };
      };
      assert.equal(joined.recovered, false);
      await first.sendText("one");
      assert.equal(await first.receiveText(), "one");
      const missed = (await broadcast.publish("room", "two"))!;
      await broadcast.publish("room", "three");
      assert.equal(missed.offset, joined.position.offset + 2);
      const since = JSON.stringify({
        epoch: joined.position.epoch,
        offset: joined.position.offset + 1,
      });
      await using second = await client.websocketConnect(
        `/room?since=${encodeURIComponent(since)}`,
      );
      assert.equal(await second.receiveText(), "two");
      assert.equal(await second.receiveText(), "three");
      const again = await second.receiveJson() as {
        joined: { recovered: boolean; position: StreamPosition };
      };
      assert.equal(again.joined.recovered, true);
      assert.equal(again.joined.position.offset, missed.offset + 1);
      await second.sendText("four");
      assert.equal(await second.receiveText(), "four");
    } finally {
      await broadcast.close();
    }
  },
);

contract(
  "presence: track, list grouped by key, stats, diffs, untrack on abort",
  async (make) => {
    const a = new Broadcast(make(), { presenceBatchMs: 10 });
    const b = new Broadcast(make(), { presenceBatchMs: 10 });
    const controller = new AbortController();
    try {
      const diffs = a.presence("room").subscribe({ signal: controller.signal });
      const tab = new AbortController();
      const untrack = await a.presence("room").track("alice", { tab: 1 });
      await b.presence("room").track("alice", { tab: 2 }, {
        signal: tab.signal,
      });
      await b.presence("room").track("bob", { tab: 1 });
      const list = await a.presence("room").list();
      assert.deepEqual(
        list.alice.map((m) => (m as { tab: number }).tab).sort(),
        [1, 2],
      );
      assert.deepEqual(list.bob, [{ tab: 1 }]);
      assert.deepEqual(await b.presence("room").stats(), {
        clients: 3,
        keys: 2,
      });
      const joined: string[] = [];
      while (joined.length < 3) {
        const { value } = await diffs.next();
        joined.push(...(value as PresenceDiff).joins.map((e) => e.key));
      }
      assert.deepEqual(joined.sort(), ["alice", "alice", "bob"]);
      tab.abort();
      await untrack();
      const left: string[] = [];
      while (left.length < 2) {
        const { value } = await diffs.next();
        left.push(...(value as PresenceDiff).leaves.map((e) => e.key));
      }
      assert.deepEqual(left, ["alice", "alice"]);
      assert.deepEqual(await a.presence("room").stats(), {
        clients: 1,
        keys: 1,
      });
      // close() takes this node's entries away.
      await b.close();
      assert.deepEqual(await a.presence("room").stats(), {
        clients: 0,
        keys: 0,
      });
    } finally {
      controller.abort();
      await a.close();
      await b.close();
    }
  },
);

Deno.test("Presence.track() validates the key and the meta", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  try {
    await assert.rejects(
      broadcast.presence("room").track(""),
      TypeError,
      'Cannot track presence on "room": the key must be a non-empty string',
    );
    await assert.rejects(
      broadcast.presence("room").track("a", () => {}),
      TypeError,
      "meta (function) has no JSON form",
    );
  } finally {
    await broadcast.close();
  }
});

Deno.test("A backend without history or presence says so", async () => {
  const redis = new Broadcast(
    new RedisBackend({
      url: "redis://127.0.0.1:1",
      connectTimeoutMs: 50,
      onError: () => {},
    }),
  );
  const local = new Broadcast(
    new BroadcastChannelBackend(`no-history-${Date.now()}`),
  );
  try {
    for (const broadcast of [redis, local]) {
      assert.throws(
        () => broadcast.subscribe("room", { since: { epoch: "e", offset: 1 } }),
        Error,
        "keeps no history, so nothing missed can be replayed: use MemoryBackend or RedisStreamBackend",
      );
      assert.throws(
        () => broadcast.presence("room"),
        Error,
        "keeps no presence: use MemoryBackend (one process) or RedisStreamBackend (many)",
      );
    }
    assert.equal(await local.publish("room", "x"), null);
    assert.throws(
      () =>
        local.subscribe("room", { since: { epoch: 1, offset: -1 } as never }),
      TypeError,
      'Cannot subscribe "room": since must be { epoch: string, offset: integer >= 0 }',
    );
  } finally {
    await redis.close();
    await local.close();
  }
});

Deno.test("MemoryBackend rejects bad history limits", () => {
  assert.throws(
    () => new MemoryBackend({ history: { size: -1 } }),
    RangeError,
    "history.size must be an integer >= 0",
  );
  assert.throws(
    () => new MemoryBackend({ history: { ttlSeconds: 0 } }),
    RangeError,
    "history.ttlSeconds must be > 0",
  );
});

// A backend whose history reads finish after a chosen number of turns, so
// publications land before, during and after the read: the seam.
class SlowHistory extends MemoryBackend {
  delays: number[] = [];
  override async history(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult> {
    const turns = this.delays.shift() ?? 0;
    for (let i = 0; i < turns; i++) await Promise.resolve();
    return await super.history(channel, since);
  }
}

type Step =
  | { op: "publish"; count: number }
  | { op: "disconnect" }
  | { op: "reconnect"; delay: number; concurrent: number };

const steps = fc.array(
  fc.oneof(
    fc.record({
      op: fc.constant("publish" as const),
      count: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({ op: fc.constant("disconnect" as const) }),
    fc.record({
      op: fc.constant("reconnect" as const),
      delay: fc.integer({ min: 0, max: 6 }),
      concurrent: fc.integer({ min: 0, max: 3 }),
    }),
  ),
  { maxLength: 25 },
);

Deno.test("Property: with recovered true, a resuming client receives the publication sequence, no gap, no duplicate", async () => {
  await fc.assert(
    fc.asyncProperty(
      steps,
      fc.integer({ min: 2, max: 12 }),
      async (plan, size) => {
        const backend = new SlowHistory({ history: { size } });
        const broadcast = new Broadcast(backend);
        let published = 0;
        const received: number[] = [];
        let last: StreamPosition | null = null;
        let allRecovered = true;
        let session: { stop: AbortController; drained: Promise<void> } | null =
          null;
        const connect = (since: StreamPosition | null, delay: number) => {
          backend.delays.push(delay);
          const stop = new AbortController();
          const events = broadcast.subscribe<number>("room", {
            signal: stop.signal,
            since: since ?? undefined,
          });
          const drained = (async () => {
            if (since !== null && !(await events.recovered)) {
              allRecovered = false;
            }
            for await (const event of events) {
              received.push(event.data);
              last = { epoch: event.epoch!, offset: event.offset! };
            }
          })();
          return { stop, drained };
        };
        const first = await broadcast.publish("room", published++);
        last = { epoch: first.epoch, offset: first.offset };
        received.push(0);
        try {
          for (const step of plan) {
            if (step.op === "publish") {
              for (let i = 0; i < step.count; i++) {
                await broadcast.publish("room", published++);
              }
            } else if (step.op === "disconnect" && session !== null) {
              session.stop.abort();
              await session.drained;
              session = null;
            } else if (step.op === "reconnect" && session === null) {
              session = connect(last, step.delay);
              // Publications racing the history read.
              const racing = [];
              for (let i = 0; i < step.concurrent; i++) {
                racing.push(broadcast.publish("room", published++));
              }
              await Promise.all(racing);
            }
            // Let deliveries land before the next step.
            for (let i = 0; i < 10; i++) await Promise.resolve();
          }
          if (session === null) session = connect(last, 0);
          const final = await broadcast.publish("room", published++);
          while (last!.offset < final.offset) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            if (!allRecovered) break;
          }
          session.stop.abort();
          await session.drained;
          // Never a duplicate, never out of order.
          for (let i = 1; i < received.length; i++) {
            assert.ok(received[i] > received[i - 1], JSON.stringify(received));
          }
          if (allRecovered) {
            assert.deepEqual(
              received,
              Array.from({ length: published }, (_, i) => i),
            );
          }
        } finally {
          await broadcast.close();
        }
      },
    ),
    { numRuns: 150 },
  );
});

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectExact<A, B>(_proof: Equals<A, B>): void {}

Deno.test("publish() is typed by the backend: a position with history, maybe null without", () => {
  type Of<B extends BroadcastBackend> = Awaited<
    ReturnType<Broadcast<B>["publish"]>
  >;
  expectExact<Of<MemoryBackend>, StreamPosition>(true);
  expectExact<Of<RedisStreamBackend>, StreamPosition>(true);
  expectExact<Of<RedisBackend>, StreamPosition | null>(true);
  expectExact<Of<BroadcastBackend>, StreamPosition | null>(true);
  // A Broadcast of any backend fits where a Broadcast is expected.
  const any: Broadcast[] = [] as Broadcast<RedisStreamBackend>[];
  assert.deepEqual(any, []);
});

Deno.test("Broadcast.join(): a leave and a new join while the history is read replay once", async () => {
  const backend = new SlowHistory();
  const broadcast = new Broadcast(backend);
  const first = await broadcast.publish("room", "zero");
  await broadcast.publish("room", "one");
  await broadcast.publish("room", "two");
  // The first read finishes last.
  backend.delays.push(20, 0);
  const app = new App();
  app.websocket("/room", async (ws) => {
    await ws.accept();
    await broadcast.join("other", ws); // so it stays a member throughout
    backend.delays.unshift(0);
    const stale = broadcast.join("room", ws, { since: first });
    broadcast.leave("room", ws);
    const joined = await broadcast.join("room", ws, { since: first });
    await stale;
    await broadcast.publish("room", "live");
    await ws.sendJson(joined.recovered);
    for await (const _ of ws.iterText());
  });
  try {
    await using ws = await new TestClient(app).websocketConnect("/room");
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await ws.receiveText());
    assert.deepEqual(got, ["one", "two", "live", "true"]);
  } finally {
    await broadcast.close();
  }
});

contract(
  "presence: a mass reconnect of one node travels as one diff",
  async (make) => {
    const broadcast = new Broadcast(make(), { presenceBatchMs: 30 });
    const controller = new AbortController();
    try {
      const here = broadcast.presence("room");
      const diffs = here.subscribe({ signal: controller.signal });
      const untracks = await Promise.all(
        Array.from({ length: 50 }, (_, i) => here.track(`user${i}`, { i })),
      );
      const { value } = await diffs.next();
      assert.equal((value as PresenceDiff).joins.length, 50);
      assert.deepEqual(await here.stats(), { clients: 50, keys: 50 });
      await Promise.all(untracks.map((untrack) => untrack()));
      const left = await diffs.next();
      assert.equal((left.value as PresenceDiff).leaves.length, 50);
    } finally {
      controller.abort();
      await broadcast.close();
    }
  },
);
