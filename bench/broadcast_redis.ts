// Broadcast through Redis: what history costs. Starts its own redis-server
// on 127.0.0.1 (a free port), then, in rounds that alternate the backends:
//
//   (1) fan-out: one Broadcast publishes, another holds `--subscribers`
//       subscriptions to the channel; deliveries/s through RedisBackend
//       (pub/sub) and RedisStreamBackend (XADD + pub/sub in one script).
//   (2) live latency: publish to receive, one message at a time, through
//       RedisStreamBackend's pub/sub, and through a blocking XREAD on a
//       connection of its own (the other way to deliver a stream live).
//   (3) resume: 1,000 missed publications replayed through
//       `subscribe(channel, { since })` until the last one arrives.
//
// Prints medians; asserts nothing.
//
//   deno task bench:broadcast                 short run
//   deno task bench:broadcast --seconds=1 --rounds=1    a smoke run
import { parseArgs } from "node:util";
import { Broadcast, type BroadcastBackend } from "../broadcast.ts";
import { RedisBackend, RedisStreamBackend } from "../broadcast_redis.ts";
// deno-lint-ignore no-import-prefix -- a benchmark, run by path
import { createClient } from "npm:redis@^6";
import { startRedis } from "../_test/_redis.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    subscribers: { type: "string", default: "50" },
    missed: { type: "string", default: "1000" },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SUBSCRIBERS = Number(values.subscribers);
const MISSED = Number(values.missed);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function fanOut(make: () => BroadcastBackend): Promise<number> {
  const publisher = new Broadcast(make());
  const receiver = new Broadcast(make(), { maxQueuedEvents: 1_000_000 });
  const controller = new AbortController();
  let deliveries = 0;
  const readers = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const events = receiver.subscribe("fan", { signal: controller.signal });
    await events.ready;
    readers.push((async () => {
      for await (const _ of events) deliveries++;
    })());
  }
  // Publishes in windows of 32 in flight: the server, not one round trip
  // at a time, is the limit.
  const end = performance.now() + SECONDS * 1000;
  let published = 0;
  const start = performance.now();
  while (performance.now() < end) {
    const batch = [];
    for (let i = 0; i < 32; i++) {
      batch.push(publisher.publish("fan", published++));
    }
    await Promise.all(batch);
  }
  // Let what is in flight arrive, up to a second.
  const drainEnd = performance.now() + 1000;
  while (deliveries < published * SUBSCRIBERS && performance.now() < drainEnd) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const rate = deliveries / ((performance.now() - start) / 1000);
  controller.abort();
  await Promise.all(readers);
  await publisher.close();
  await receiver.close();
  return rate;
}

async function pubsubLatency(url: string): Promise<number> {
  const a = new Broadcast(new RedisStreamBackend({ url, prefix: "lat:" }));
  const b = new Broadcast(new RedisStreamBackend({ url, prefix: "lat:" }));
  const controller = new AbortController();
  const events = b.subscribe("lat", { signal: controller.signal });
  await events.ready;
  const samples: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const start = performance.now();
    const next = events.next();
    await a.publish("lat", 1);
    await next;
    samples.push(performance.now() - start);
  }
  controller.abort();
  await a.close();
  await b.close();
  return median(samples);
}

async function xreadLatency(url: string): Promise<number> {
  // The alternative design: XADD, and a reader blocked in XREAD on the
  // stream (one connection per reader, re-issued after every reply).
  const writer = createClient({ url, maintNotifications: "disabled" });
  const reader = createClient({ url, maintNotifications: "disabled" });
  for (const client of [writer, reader]) {
    client.on("error", () => {});
    await client.connect();
  }
  const samples: number[] = [];
  let last = "$";
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const read = reader.sendCommand([
      "XREAD",
      "BLOCK",
      "1000",
      "STREAMS",
      "xlat",
      last,
    ]) as Promise<[string, [string, string[]][]][] | null>;
    // Let the XREAD reach the server before the XADD.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const readyAt = performance.now();
    await writer.sendCommand([
      "XADD",
      "xlat",
      "MAXLEN",
      "~",
      "1000",
      "*",
      "d",
      "1",
    ]);
    const reply = await read;
    if (reply !== null) {
      // RESP2 gives [[key, entries]]; RESP3 a map { key: entries }.
      const entries = (Array.isArray(reply)
        ? reply[0][1]
        : Object.values(reply as Record<string, unknown>)[0]) as [
          string,
          string[],
        ][];
      last = String(entries.at(-1)![0]);
    }
    samples.push(performance.now() - readyAt);
  }
  writer.destroy();
  reader.destroy();
  return median(samples);
}

async function resume(url: string): Promise<number> {
  const broadcast = new Broadcast(
    new RedisStreamBackend({
      url,
      prefix: "resume:",
      history: { size: MISSED },
    }),
    { maxQueuedEvents: MISSED * 2 },
  );
  const first = await broadcast.publish("room", 0);
  const batch = [];
  for (let i = 1; i <= MISSED; i++) batch.push(broadcast.publish("room", i));
  await Promise.all(batch);
  const controller = new AbortController();
  const start = performance.now();
  const events = broadcast.subscribe<number>("room", {
    since: first,
    signal: controller.signal,
  });
  if (!(await events.recovered)) throw new Error("not recovered");
  let got = 0;
  for await (const _ of events) if (++got === MISSED) break;
  const took = performance.now() - start;
  controller.abort();
  await broadcast.close();
  return took;
}

const redis = await startRedis();
try {
  const results: Record<string, number[]> = {
    pubsub: [],
    stream: [],
    livePubsub: [],
    liveXread: [],
    resume: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    results.pubsub.push(
      await fanOut(() =>
        new RedisBackend({ url: redis.url, prefix: `p${round}:` })
      ),
    );
    results.stream.push(
      await fanOut(() =>
        new RedisStreamBackend({ url: redis.url, prefix: `s${round}:` })
      ),
    );
    results.livePubsub.push(await pubsubLatency(redis.url));
    results.liveXread.push(await xreadLatency(redis.url));
    results.resume.push(await resume(redis.url));
  }
  const pubsub = median(results.pubsub);
  const stream = median(results.stream);
  console.log(
    `fan-out, ${SUBSCRIBERS} subscribers, ${SECONDS} s x ${ROUNDS} rounds (median):`,
  );
  console.log(
    `  RedisBackend (pub/sub)      ${Math.round(pubsub)} deliveries/s`,
  );
  console.log(
    `  RedisStreamBackend          ${Math.round(stream)} deliveries/s  (${
      (stream / pubsub).toFixed(2)
    }x pub/sub; goal >= 0.8x)`,
  );
  console.log("live delivery of a stream, publish to receive (median):");
  console.log(
    `  pub/sub (what RedisStreamBackend does)  ${
      median(results.livePubsub).toFixed(3)
    } ms`,
  );
  console.log(
    `  XREAD BLOCK                             ${
      median(results.liveXread).toFixed(3)
    } ms`,
  );
  console.log(
    `resume of ${MISSED} missed, subscribe({ since }) to the last event: ${
      median(results.resume).toFixed(1)
    } ms (goal < 50 ms)`,
  );
} finally {
  await redis.stop();
}
