// Resumable sessions and presence across processes: two `deno serve`
// processes of one app share a real redis-server; raw WebSocket clients are
// cut off abruptly and resume on the other process with their last
// position, as `?since=epoch:offset`; the typed client, cut off through a
// forwarder, reconnects to the other process and resumes by itself.
import assert from "node:assert/strict";
import type { StreamPosition } from "../broadcast.ts";
import {
  type ClientMessage,
  type ClientStatus,
  connect,
  type ProtocolClient,
} from "../client.ts";
import { Forwarder } from "./_forwarder.ts";
import { feed } from "./fixtures/feed_protocol.ts";
import { OPCODE, rawHandshake, readFrames, sendFrame } from "./_raw_client.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { serve, type Served } from "./_serve.ts";

const APP = new URL("./fixtures/resume_app.ts", import.meta.url).pathname;

/** One process of the app, on `redis`. */
function server(
  redis: RedisServer,
  env: Record<string, string>,
): Promise<Served> {
  return serve(APP, {
    // Net to the listener and Redis only: no env access for the client.
    flags: [
      "--allow-net=127.0.0.1",
      "--allow-env=REDIS_URL,HISTORY_SIZE,PRESENCE_TTL",
    ],
    env: { REDIS_URL: redis.url, ...env },
  });
}

async function servers(
  redis: RedisServer,
  env: Record<string, string>,
): Promise<[Served, Served]> {
  return await Promise.all([server(redis, env), server(redis, env)]);
}

async function publish(
  server: Served,
  from: number,
  count: number,
  path = "/publish",
): Promise<StreamPosition[]> {
  const response = await fetch(`http://127.0.0.1:${server.port}${path}`, {
    method: "POST",
    body: JSON.stringify({ from, count }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

interface Joined {
  recovered: boolean;
  position: StreamPosition;
}

/** A raw client of /room: what it read, in order, and its connection. */
class Client {
  readonly seen: number[] = [];
  joined: Joined | null = null;
  #frames: AsyncGenerator<{ opcode: number; payload: Uint8Array }>;
  readonly conn: Deno.TcpConn;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#frames = readFrames(conn);
  }

  static async open(server: Served, since?: StreamPosition): Promise<Client> {
    const query = since ? `?since=${since.epoch}:${since.offset}` : "";
    const { status, conn } = await rawHandshake(server.port, `/room${query}`);
    assert.equal(status, 101);
    await sendFrame(conn, OPCODE.text, new TextEncoder().encode("start"));
    return new Client(conn);
  }

  /** Reads until `count` messages and the join result have arrived. */
  async read(count: number): Promise<void> {
    const target = this.seen.length + count;
    const timer = setTimeout(() => this.conn.close(), 20_000);
    try {
      while (this.seen.length < target || this.joined === null) {
        const { value, done } = await this.#frames.next();
        if (done) {
          throw new Error(
            `connection ended after ${JSON.stringify(this.seen)}`,
          );
        }
        const message = JSON.parse(new TextDecoder().decode(value.payload));
        if ("joined" in message) this.joined = message.joined;
        else this.seen.push(message.n);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    try {
      await sendFrame(this.conn, OPCODE.close, new Uint8Array([0x03, 0xe8]));
    } catch {
      // already gone
    }
    this.conn.close();
    await this.#frames.return(undefined);
  }
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

async function redisCommand(port: number, command: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(command + "\r\n"));
    const buffer = new Uint8Array(256);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

Deno.test("[redis] a client reset on process A resumes on process B with exactly what it missed, then live", async () => {
  const redis = await startRedis();
  const [a, b] = await servers(redis, { HISTORY_SIZE: "20" });
  try {
    const first = await Client.open(a);
    await first.read(0);
    assert.equal(first.joined!.recovered, false);
    const positions = await publish(b, 0, 3);
    assert.deepEqual(
      positions.map((p) => p.offset),
      [1, 2, 3],
    );
    await first.read(3);
    assert.deepEqual(first.seen, [0, 1, 2]);
    // One more reaches A's socket but is never read: closing with unread
    // data makes the kernel reset the connection (RST), as a dropped phone
    // would look to the server.
    positions.push(...await publish(b, 3, 1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    first.conn.close();
    positions.push(...await publish(b, 4, 5));
    const resumed = await Client.open(b, positions[2]);
    await resumed.read(6);
    assert.deepEqual(resumed.joined!.recovered, true);
    assert.deepEqual(resumed.joined!.position, positions[8]);
    // Then live, from either process, with no duplicate at the seam.
    await publish(a, 9, 2);
    await resumed.read(2);
    assert.deepEqual(resumed.seen, range(3, 8));

    // More missed than the history holds (20): nothing partial.
    positions.push(...await publish(a, 11, 25));
    await resumed.read(25);
    const late = await Client.open(a, positions[10]);
    await late.read(0);
    assert.equal(late.joined!.recovered, false);
    assert.deepEqual(late.seen, []);
    await publish(b, 36, 1);
    await late.read(1);
    assert.deepEqual(late.seen, [36]);

    // FLUSHALL: the history is gone; a new epoch, and recovered: false.
    const last = (await publish(b, 37, 1))[0];
    await late.read(1);
    assert.equal(await redisCommand(redis.port, "FLUSHALL"), "+OK\r\n");
    const flushed = await Client.open(b, last);
    await flushed.read(0);
    assert.equal(flushed.joined!.recovered, false);
    assert.notEqual(flushed.joined!.position.epoch, last.epoch);
    const [after] = await publish(a, 38, 1);
    assert.deepEqual(after, {
      epoch: flushed.joined!.position.epoch,
      offset: 1,
    });
    await flushed.read(1);
    assert.deepEqual(flushed.seen, [38]);

    // A Redis restart (no persistence): the same, once it is back.
    await redis.stop();
    await redis.start();
    let restarted: StreamPosition | undefined;
    const deadline = Date.now() + 15_000;
    while (restarted === undefined) {
      assert.ok(Date.now() < deadline, "no publish after the restart");
      const response = await fetch(`http://127.0.0.1:${b.port}/publish`, {
        method: "POST",
        body: JSON.stringify({ from: 39, count: 1 }),
      });
      if (response.status === 200) restarted = (await response.json())[0];
      else {
        await response.body?.cancel();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.notEqual(restarted.epoch, after.epoch);
    assert.equal(restarted.offset, 1);
    // Process A reconnects to Redis on its own schedule (a join before then
    // rejects, and the handler closes with 1011): wait until it answers.
    while (true) {
      assert.ok(Date.now() < deadline, "process A not back on Redis");
      const response = await fetch(`http://127.0.0.1:${a.port}/presence`);
      await response.body?.cancel();
      if (response.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const again = await Client.open(a, after);
    await again.read(0);
    assert.equal(again.joined!.recovered, false);
    for (const client of [resumed, late, flushed, again]) await client.close();
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await redis.stop();
  }
});

interface Diff {
  joins: { key: string }[];
  leaves: { key: string }[];
  /** When the fixture received it (Date.now(), the test's clock too). */
  at: number;
}

async function presence(server: Served): Promise<{
  stats: { clients: number; keys: number };
  list: Record<string, { pid: number }[]>;
  diffs: Diff[];
}> {
  const response = await fetch(`http://127.0.0.1:${server.port}/presence`);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

// The diffs a process received, without reading presence (which would sweep
// out expired entries itself).
async function diffs(server: Served): Promise<Diff[]> {
  const response = await fetch(`http://127.0.0.1:${server.port}/diffs`);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

async function track(server: Served, key: string): Promise<Deno.TcpConn> {
  const { status, conn } = await rawHandshake(
    server.port,
    `/presence?key=${key}`,
  );
  assert.equal(status, 101);
  const frames = readFrames(conn);
  const { value } = await frames.next();
  assert.equal(new TextDecoder().decode(value!.payload), "tracked");
  return conn;
}

function leaveOf(all: Diff[], key: string, after: number): Diff | undefined {
  return all.find((diff) =>
    diff.at >= after && diff.leaves.some((entry) => entry.key === key)
  );
}

// The documented bounds (RedisStreamBackend's `presence` option, README
// "Delivery and ordering"): a dead node's entries are gone from list() and
// stats() at most ttlSeconds after it died (its last heartbeat, every
// ttlSeconds / 3, set their expiry), and a surviving node's heartbeat sweep
// reports them in a leave diff within ttlSeconds x 4/3. SLACK_MS is for a
// loaded 2-core machine: late timers, HTTP round trips, process start-up.
const TTL_S = 2;
const SLACK_MS = 1000;

Deno.test("[redis] presence across two processes: three tabs count once, a killed process's entries go within the TTL", async () => {
  const redis = await startRedis();
  const [a, b] = await servers(redis, { PRESENCE_TTL: String(TTL_S) });
  let c: Served | undefined;
  const conns: Deno.TcpConn[] = [];
  try {
    conns.push(await track(a, "alice"), await track(a, "alice"));
    conns.push(await track(b, "alice"), await track(b, "bob"));
    const both = await presence(a);
    assert.deepEqual(both.stats, { clients: 4, keys: 2 });
    assert.equal(both.list.alice.length, 3);
    assert.equal(both.list.bob.length, 1);
    assert.deepEqual(await presence(b).then((p) => p.stats), both.stats);

    // B killed, and nobody reads presence: the leave diff comes from A's
    // heartbeat sweep, within ttlSeconds x 4/3 of the kill.
    let killed = Date.now();
    await b.stop("SIGKILL");
    // B's two entries (bob, and one of alice's tabs) leave; each within
    // the bound. (A's own may flap on a machine so busy that a heartbeat
    // comes late; they come back with a join, so they are not counted here.)
    let bobLeft: Diff | undefined;
    let aliceLeft: Diff | undefined;
    while (bobLeft === undefined || aliceLeft === undefined) {
      assert.ok(
        Date.now() - killed < TTL_S * 4000 + SLACK_MS * 2,
        "no leave diff for B's entries",
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const seen = await diffs(a);
      bobLeft = leaveOf(seen, "bob", killed);
      aliceLeft = leaveOf(seen, "alice", killed);
    }
    for (const left of [bobLeft, aliceLeft]) {
      const after = left.at - killed;
      assert.ok(
        after <= (TTL_S * 1000 * 4) / 3 + SLACK_MS,
        `a leave diff came ${after} ms after the kill, over ${TTL_S} s x 4/3 + ${SLACK_MS} ms`,
      );
    }
    let now = await presence(a);
    assert.deepEqual(now.stats, { clients: 2, keys: 1 });
    assert.deepEqual(Object.keys(now.list), ["alice"]);

    // A third process tracks bob and is killed; now A's stats() is polled:
    // the entry is gone from it within ttlSeconds of the kill.
    c = await server(redis, { PRESENCE_TTL: String(TTL_S) });
    conns.push(await track(c, "bob"));
    assert.deepEqual((await presence(a)).stats, { clients: 3, keys: 2 });
    killed = Date.now();
    await c.stop("SIGKILL");
    now = await presence(a);
    while (now.stats.clients !== 2) {
      assert.ok(
        Date.now() - killed < TTL_S * 4000 + SLACK_MS * 2,
        JSON.stringify(now.stats),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await presence(a);
    }
    const goneAfter = Date.now() - killed;
    assert.ok(
      goneAfter <= TTL_S * 1000 + SLACK_MS,
      `stats() dropped ${goneAfter} ms after the kill, over ${TTL_S} s + ${SLACK_MS} ms`,
    );
    assert.deepEqual(now.stats, { clients: 2, keys: 1 });
    assert.deepEqual(Object.keys(now.list), ["alice"]);
    // The read swept it out, and reported it, at once.
    let leave = leaveOf(now.diffs, "bob", killed);
    while (leave === undefined) {
      assert.ok(Date.now() - killed - goneAfter < SLACK_MS, "no leave diff");
      await new Promise((resolve) => setTimeout(resolve, 50));
      leave = leaveOf(await diffs(a), "bob", killed);
    }
    assert.ok(leave.at - killed <= (TTL_S * 1000 * 4) / 3 + SLACK_MS);

    // A tab that closes normally leaves at once.
    const closed = Date.now();
    conns[0].close();
    now = await presence(a);
    while (now.stats.clients !== 1) {
      assert.ok(Date.now() - closed < 5000, JSON.stringify(now.stats));
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await presence(a);
    }
    assert.deepEqual(now.stats, { clients: 1, keys: 1 });
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed by the test
      }
    }
    await Promise.all([a.stop(), b.stop(), c?.stop()]);
    await redis.stop();
  }
});

type FeedMessage = ClientMessage<typeof feed>;
type FeedJoined = Extract<FeedMessage, { type: "joined" }>["data"];

/** Reads a typed client's messages, each within a bound. */
class FeedReader {
  readonly #messages: AsyncIterableIterator<FeedMessage>;

  constructor(client: ProtocolClient<typeof feed>) {
    this.#messages = client.messages();
  }

  async #next(): Promise<FeedMessage> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("no message within 20 s")),
        20_000,
      );
    });
    try {
      const { value, done } = await Promise.race([this.#messages.next(), late]);
      assert.ok(!done, "the client closed");
      return value;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next `count` messages, which must be ticks: their `n`. */
  async ticks(count: number): Promise<number[]> {
    const seen: number[] = [];
    while (seen.length < count) {
      const message = await this.#next();
      assert.equal(
        message.type,
        "tick",
        `after ticks ${JSON.stringify(seen)}: ${JSON.stringify(message)}`,
      );
      if (message.type === "tick") seen.push(message.data.n);
    }
    return seen;
  }

  /**
   * After a (re)connection: the ticks up to the handler's join result (a
   * replay comes before join() resolves, so before it), and that result.
   */
  async rejoin(): Promise<{ ticks: number[]; joined: FeedJoined }> {
    const ticks: number[] = [];
    while (true) {
      const message = await this.#next();
      if (message.type === "joined") return { ticks, joined: message.data };
      assert.equal(message.type, "tick", JSON.stringify(message));
      if (message.type === "tick") ticks.push(message.data.n);
    }
  }
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("[redis] the typed client, cut off from process A, reconnects by itself to process B and gets exactly what it missed, then live; more missed than the history holds: recovered false, nothing partial", async () => {
  const size = 10;
  const redis = await startRedis();
  const [a, b] = await servers(redis, { HISTORY_SIZE: String(size) });
  const forwarder = new Forwarder(a.port);
  const statuses: ClientStatus[] = [];
  let client: ProtocolClient<typeof feed> | undefined;
  const ticks = (server: Served, from: number, count: number) =>
    publish(server, from, count, "/feed/publish");
  // Cuts the client off and keeps it off (its dials are refused) until
  // `back()`: nothing it misses meanwhile can reach it live.
  const cut = async () => {
    forwarder.refusing = true;
    await forwarder.cut();
    await until("reconnecting", () => client!.status === "reconnecting");
  };
  const back = (server: Served) => {
    forwarder.target = server.port;
    forwarder.refusing = false;
  };
  try {
    client = await connect(feed, `ws://127.0.0.1:${forwarder.port}/feed`, {
      reconnect: { minDelayMs: 20, maxDelayMs: 200 },
      onStatus: (status) => statuses.push(status),
    });
    const reader = new FeedReader(client);
    // A first connection asks for nothing: live from the channel's top.
    const first = await reader.rejoin();
    assert.deepEqual(first.ticks, []);
    assert.equal(first.joined.recovered, false);
    assert.equal(first.joined.since, null);
    assert.equal(first.joined.position?.offset, 0);
    // Published on B, delivered live by A through Redis.
    const positions = await ticks(b, 0, 3);
    assert.deepEqual(positions[0], {
      epoch: first.joined.position.epoch,
      offset: 1,
    });
    assert.deepEqual(await reader.ticks(3), [0, 1, 2]);

    // The network goes silent: A writes one more, which never arrives;
    // then the connection is cut.
    forwarder.dropping = true;
    positions.push(...await ticks(b, 3, 1));
    await until("tick 3 swallowed", () => forwarder.dropped > 0);
    await cut();
    forwarder.dropping = false;
    positions.push(...await ticks(b, 4, 4));
    back(b);
    // From the last envelope it received, 2: the one lost, then the rest.
    assert.deepEqual(await reader.rejoin(), {
      ticks: [3, 4, 5, 6, 7],
      joined: { recovered: true, since: positions[2], position: positions[7] },
    });
    // Then live, from either process, with no duplicate at the seam: the
    // next message after the replay is the next publication.
    positions.push(...await ticks(a, 8, 2));
    positions.push(...await ticks(b, 10, 1));
    assert.deepEqual(await reader.ticks(3), [8, 9, 10]);

    // Exactly as many missed as the history holds: still all of them.
    await cut();
    positions.push(...await ticks(a, 11, size));
    back(a);
    assert.deepEqual(await reader.rejoin(), {
      ticks: Array.from({ length: size }, (_, i) => 11 + i),
      joined: {
        recovered: true,
        since: positions[10],
        position: positions[10 + size],
      },
    });

    // One more than it holds: recovered false, and nothing of the history.
    await cut();
    const lost = await ticks(b, 11 + size, size + 1);
    back(b);
    assert.deepEqual(await reader.rejoin(), {
      ticks: [],
      joined: {
        recovered: false,
        since: positions.at(-1),
        position: lost.at(-1),
      },
    });
    // Live messages flow again, and the client's position moves on.
    await ticks(a, 100, 1);
    assert.deepEqual(await reader.ticks(1), [100]);

    assert.deepEqual(forwarder.routed, [a.port, b.port, a.port, b.port]);
    assert.deepEqual(statuses, [
      "open",
      "reconnecting",
      "open",
      "reconnecting",
      "open",
      "reconnecting",
      "open",
    ]);
  } finally {
    await client?.close();
    await forwarder.close();
    await Promise.all([a.stop(), b.stop()]);
    await redis.stop();
  }
});
