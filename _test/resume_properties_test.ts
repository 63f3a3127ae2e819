// The resume property on the path users take: a protocol route whose
// handler joins with `ws.resume`, and the typed client with `reconnect`
// resuming by itself after its connection is cut abruptly (no close
// frame), over TestClient.WebSocket in memory, with histories small enough
// to be trimmed.
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { App, defineProtocol, WebSocketDisconnect } from "../mod.ts";
import {
  Broadcast,
  type HistoryResult,
  MemoryBackend,
  type StreamPosition,
} from "../broadcast.ts";
import { connect } from "../client.ts";
import {
  TestClient,
  type WebSocketConnectOptions,
  type WebSocketTestSession,
} from "../testing.ts";

const feed = defineProtocol({
  receives: {},
  sends: {
    // Before the join: where a connection's messages begin (`id` counts
    // the connections the server accepted, from 0).
    hello: z.object({ id: z.number() }),
    tick: z.object({ n: z.number() }),
    // After the join: what it reported.
    joined: z.object({
      id: z.number(),
      recovered: z.boolean(),
      offset: z.number(),
    }),
  },
});

/**
 * A MemoryBackend whose next history read, once `hold` is set, waits for
 * `release()` before or after reading: publications then land between the
 * join's subscription and its read of the history, or between the read and
 * the replay (the seam, both sides).
 */
class HeldHistory extends MemoryBackend {
  hold: "before" | "after" | null = null;
  /** Whether a held read is waiting. */
  waiting = false;
  #release: (() => void) | null = null;

  override async history(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult> {
    const hold = this.hold;
    this.hold = null;
    if (hold === "before") await this.#held();
    const result = await super.history(channel, since);
    if (hold === "after") await this.#held();
    return result;
  }

  async #held(): Promise<void> {
    this.waiting = true;
    await new Promise<void>((resolve) => this.#release = resolve);
    this.waiting = false;
  }

  release(): void {
    this.#release?.();
    this.#release = null;
  }
}

function feedApp(broadcast: Broadcast<HeldHistory>) {
  const app = new App();
  const server = { accepted: 0, failures: [] as unknown[] };
  app.websocket("/feed", { protocol: feed }, async (ws) => {
    await ws.accept();
    const id = server.accepted++;
    try {
      await ws.emit("hello", { id });
      const { recovered, position } = await broadcast.join("ticks", ws, {
        since: ws.resume?.["ticks"],
      });
      await ws.emit("joined", { id, recovered, offset: position!.offset });
      for await (const _ of ws.messages()); // until the client is gone
    } catch (error) {
      // Cut while emitting: expected. Anything else fails the run now
      // rather than as a wait that times out.
      if (!(error instanceof WebSocketDisconnect)) server.failures.push(error);
      throw error;
    }
  });
  return { app, server };
}

/**
 * A TestClient whose network can fail: `cut()` drops every live
 * connection without a closing handshake (both ends see 1006), and while
 * `down`, dials fail as a refused TCP connection would.
 */
class FlakyNetwork extends TestClient {
  down = false;
  /** What `published()` said as each dial that got through began. */
  readonly dialled: number[] = [];
  readonly #published: () => number;
  readonly #live = new Set<WebSocketTestSession>();
  readonly #cuts: Promise<void>[] = [];

  constructor(app: App, published: () => number) {
    super(app);
    this.#published = published;
  }

  /** Whether a connection is up. */
  get connected(): boolean {
    return this.#live.size > 0;
  }

  override async websocketConnect(
    path: string | URL,
    options?: WebSocketConnectOptions,
  ): Promise<WebSocketTestSession> {
    if (this.down) {
      throw new WebSocketDisconnect(1006, "");
    }
    // One client dials one connection at a time: the n-th dial that gets
    // through is the server's connection n.
    this.dialled.push(this.#published());
    const session = await super.websocketConnect(path, options);
    this.#live.add(session);
    // The network failed during the handshake.
    if (this.down) this.cut();
    return session;
  }

  /** Drops every live connection. */
  cut(): void {
    for (const session of this.#live) {
      this.#cuts.push(session.terminate());
    }
    this.#live.clear();
  }

  /**
   * Waits for the server's handlers of every connection (closing those
   * still live), rethrowing their errors.
   */
  async settled(): Promise<void> {
    for (const session of this.#live) this.#cuts.push(session.close());
    this.#live.clear();
    await Promise.all(this.#cuts);
  }
}

type Step =
  | { op: "publish"; count: number }
  | { op: "disconnect" }
  | {
    op: "reconnect";
    then: "settle" | "race" | "cut at hello" | "publish at the seam";
    count: number;
    read: "before" | "after";
  };

const steps = fc.array(
  fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("publish" as const),
        count: fc.integer({ min: 1, max: 4 }),
      }),
    },
    fc.record({ op: fc.constant("disconnect" as const) }),
    // Then: wait for the join; or go on at once (publications racing the
    // dial and the join); or cut again as soon as the connection is up (in
    // the middle of the join); or publish `count` while the join is held
    // before or after its read of the history.
    fc.record({
      op: fc.constant("reconnect" as const),
      then: fc.constantFrom(
        "settle",
        "race",
        "cut at hello",
        "publish at the seam",
      ),
      count: fc.integer({ min: 1, max: 3 }),
      read: fc.constantFrom("before" as const, "after" as const),
    }),
  ),
  { minLength: 4, maxLength: 24, size: "medium" },
);

type Joined = {
  type: "joined";
  id: number;
  recovered: boolean;
  offset: number;
  // Publications when the connection's dial began and when the client read
  // this (one more while a publish is under way): the join read the
  // history in between.
  publishedBefore: number;
  publishedAfter: number;
};

type Seen =
  | { type: "hello"; id: number }
  | { type: "tick"; n: number }
  | Joined;

async function until(
  what: string,
  condition: () => boolean,
  log: () => unknown,
  failures: unknown[],
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (failures.length > 0) {
      throw new Error(`Cannot wait for ${what}: the handler failed`, {
        cause: failures[0],
      });
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting: ${what}: ${JSON.stringify(log())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const ticksOf = (seen: Seen[]) =>
  seen.flatMap((s) => s.type === "tick" ? [s.n] : []);

/**
 * Checks what the client read against the publications (`offsets[n]` is
 * the offset of tick n) and a history of `size`.
 */
function check(log: Seen[], offsets: number[], size: number): void {
  const show = () => JSON.stringify({ size, offsets, log });
  // One epoch: offsets follow each other, so a count of publications
  // gives the channel's top.
  offsets.forEach((offset, n) =>
    assert.equal(offset, offsets[0] + n, `offsets: ${show()}`)
  );
  const top = (published: number) =>
    published === 0 ? 0 : offsets[0] + published - 1;
  // Never a duplicate, never out of order.
  const ticks = ticksOf(log);
  for (let i = 1; i < ticks.length; i++) {
    assert.ok(ticks[i] > ticks[i - 1], `out of order or twice: ${show()}`);
  }
  let last = -1; // the last tick received, over every connection
  let everRecovered = true;
  let start = 0;
  while (start < log.length) {
    assert.equal(log[start].type, "hello", `no hello first: ${show()}`);
    let end = start + 1;
    while (end < log.length && log[end].type !== "hello") end++;
    const connection = log.slice(start + 1, end);
    const got = ticksOf(connection);
    // A connection loses nothing while it lasts.
    for (let i = 1; i < got.length; i++) {
      assert.equal(got[i], got[i - 1] + 1, `a gap on a connection: ${show()}`);
    }
    const at = connection.findIndex((seen) => seen.type === "joined");
    if (at !== -1) {
      const joined = connection[at] as Joined;
      const resumedFrom = last === -1 ? null : offsets[last];
      if (resumedFrom === null) {
        assert.ok(!joined.recovered, `recovered from nothing: ${show()}`);
      } else {
        // If the history held all the client missed at the latest moment
        // the join can have read it, it must recover; if it had lost some
        // at the earliest, it must not.
        if (top(joined.publishedAfter) - resumedFrom <= size) {
          assert.ok(joined.recovered, `not recovered, yet held: ${show()}`);
        }
        if (top(joined.publishedBefore) - resumedFrom > size) {
          assert.ok(!joined.recovered, `recovered, yet trimmed: ${show()}`);
        }
      }
      const before = ticksOf(connection.slice(0, at));
      if (joined.recovered) {
        // What was missed, from right after the last one received...
        if (got.length > 0) {
          assert.equal(got[0], last + 1, `a gap at the resume: ${show()}`);
        }
        // ...up to the join's position, before the join reported.
        const reached = before.at(-1) ?? last;
        assert.ok(
          offsets[reached] >= joined.offset,
          `the replay stops short of the join's position: ${show()}`,
        );
        if (everRecovered) {
          // So far, exactly the publication sequence.
          const sofar = ticks.slice(0, ticks.indexOf(reached) + 1);
          assert.deepEqual(
            sofar,
            Array.from({ length: sofar.length }, (_, i) => i),
            `not the publication sequence: ${show()}`,
          );
        }
      } else {
        everRecovered = false;
        // Nothing from before the join's position; all after it.
        if (got.length > 0) {
          assert.equal(
            offsets[got[0]],
            joined.offset + 1,
            `replayed though not recovered, or a gap: ${show()}`,
          );
        }
      }
    }
    if (got.length > 0) last = got.at(-1)!;
    start = end;
  }
  if (everRecovered) {
    assert.deepEqual(
      ticks,
      Array.from({ length: offsets.length }, (_, i) => i),
      `all recovered, yet not the publication sequence: ${show()}`,
    );
  }
}

Deno.test("Property: a typed client cut and reconnecting receives the publication sequence, no gap, no duplicate, whenever its join reports recovered", async () => {
  await fc.assert(
    fc.asyncProperty(
      steps,
      fc.integer({ min: 0, max: 8 }),
      async (plan, size) => {
        const backend = new HeldHistory({ history: { size } });
        const broadcast = new Broadcast(backend);
        const { app, server } = feedApp(broadcast);
        const offsets: number[] = [];
        let publishing = false;
        const network = new FlakyNetwork(app, () => offsets.length);
        const log: Seen[] = [];
        let cutAtHello = false;
        const publish = async () => {
          publishing = true;
          const n = offsets.length;
          const { offset } = await broadcast.publish("ticks", {
            type: "tick",
            data: { n },
          });
          offsets.push(offset);
          publishing = false;
        };
        const client = await connect(feed, "ws://testserver/feed", {
          WebSocket: network.WebSocket,
          reconnect: { minDelayMs: 1, maxDelayMs: 8 },
        });
        const reading = (async () => {
          for await (const message of client.messages()) {
            if (message.type === "joined") {
              log.push({
                type: "joined",
                ...message.data,
                publishedBefore: network.dialled[message.data.id],
                publishedAfter: offsets.length + (publishing ? 1 : 0),
              });
            } else if (message.type === "hello") {
              log.push({ type: "hello", id: message.data.id });
              if (cutAtHello) {
                // What the server sent after the hello is still on its way.
                cutAtHello = false;
                network.down = true;
                network.cut();
              }
            } else if (message.type === "tick") {
              log.push({ type: "tick", n: message.data.n });
            } else {
              throw new Error(`Unexpected: ${JSON.stringify(message)}`);
            }
          }
        })();
        // The live connection (the last one accepted) has joined.
        const joined = () =>
          network.connected &&
          log.findLast((seen) => seen.type === "joined")?.id ===
            server.accepted - 1;
        try {
          await until("the first join", joined, () => log, server.failures);
          for (const step of plan) {
            if (step.op === "publish") {
              for (let i = 0; i < step.count; i++) await publish();
            } else if (step.op === "disconnect" && !network.down) {
              network.down = true;
              network.cut();
            } else if (step.op === "reconnect" && network.down) {
              if (step.then === "publish at the seam") backend.hold = step.read;
              network.down = false;
              if (step.then === "publish at the seam") {
                await until(
                  "the history read",
                  () => backend.waiting,
                  () => log,
                  server.failures,
                );
                for (let i = 0; i < step.count; i++) await publish();
                backend.release();
                await until(
                  "the join after a reconnect",
                  joined,
                  () => log,
                  server.failures,
                );
              } else if (step.then === "settle") {
                await until(
                  "the join after a reconnect",
                  joined,
                  () => log,
                  server.failures,
                );
              } else if (step.then === "cut at hello") {
                cutAtHello = true;
                await until(
                  "the cut after a reconnect",
                  () => !cutAtHello,
                  () => log,
                  server.failures,
                );
              }
            }
            // Let deliveries land before the next step.
            for (let i = 0; i < 10; i++) await Promise.resolve();
          }
          network.down = false;
          await until("the last join", joined, () => log, server.failures);
          await publish();
          await until(
            "the last tick",
            () => ticksOf(log).at(-1) === offsets.length - 1,
            () => log,
            server.failures,
          );
        } finally {
          backend.release();
          await client.close();
          await reading;
          await network.settled();
          await broadcast.close();
        }
        check(log, offsets, size);
      },
    ),
    { numRuns: 100 },
  );
});
