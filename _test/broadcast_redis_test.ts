// The Redis backends when things go wrong: no server, a server that never
// answers, a server that goes away, missing Deno permissions. Every case
// rejects within a bounded time with an error that says what to do, is
// logged, and leaves nothing that keeps the process alive.
import assert from "node:assert/strict";
import { App } from "../mod.ts";
import { Broadcast } from "../broadcast.ts";
import { RedisBackend, RedisStreamBackend } from "../broadcast_redis.ts";
import { TestClient } from "../testing.ts";
import { startRedis } from "./_redis.ts";
import { serve } from "./_serve.ts";

async function elapsed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const start = Date.now();
  const value = await run();
  return [value, Date.now() - start];
}

Deno.test("[redis] with no server, publish, subscribe and join reject within connectTimeoutMs, logged, and work once it is up", async () => {
  const redis = await startRedis();
  await redis.stop();
  const logged: string[] = [];
  const broadcast = new Broadcast(
    new RedisStreamBackend({
      url: redis.url,
      connectTimeoutMs: 500,
      onError: (error) => logged.push(error.message),
    }),
  );
  const app = new App();
  app.websocket("/room", async (ws) => {
    await ws.accept();
    try {
      await broadcast.join("room", ws);
      await ws.sendText("joined");
    } catch (error) {
      await ws.sendText((error as Error).message);
    }
  });
  try {
    const expected =
      /Cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+ \(RedisStreamBackend \((commands|subscriber)\)\): no connection within 500 ms .*: check that the server runs and the URL \(REDIS_URL\) is right$/;
    const [publishError, took] = await elapsed(() =>
      broadcast.publish("room", "x").then(() => null, (error) => error)
    );
    assert.match(String(publishError?.message), expected);
    assert.ok(took < 3000, `publish took ${took} ms`);
    const events = broadcast.subscribe("room");
    await assert.rejects(events.next(), expected);
    await events.return!();
    const client = new TestClient(app);
    await using ws = await client.websocketConnect("/room");
    assert.match(await ws.receiveText(), expected);
    assert.ok(logged.length > 0 && logged.every((line) => expected.test(line)));
    // Redis comes up: the same Broadcast works.
    await redis.start();
    const position = await broadcast.publish("room", "now");
    assert.equal(position.offset, 1);
  } finally {
    await broadcast.close();
    await redis.stop();
  }
});

Deno.test("[redis] a server that accepts but never answers: rejected after the timeout, not a hang", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const broadcast = new Broadcast(
    new RedisBackend({
      url: `redis://127.0.0.1:${listener.addr.port}`,
      connectTimeoutMs: 400,
      onError: () => {},
    }),
  );
  try {
    const [error, took] = await elapsed(() =>
      broadcast.publish("room", "x").then(() => null, (error) => error)
    );
    assert.match(
      String(error?.message),
      /^Cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+ \(RedisBackend \(commands\)\): no connection within 400 ms/,
    );
    assert.ok(took < 3000, `took ${took} ms`);
  } finally {
    await broadcast.close();
    listener.close();
    for (const conn of held) conn.close();
    await accepting;
  }
});

Deno.test("[redis] RedisStreamBackend: while the server is away, publish rejects at once; history and presence too", async () => {
  const redis = await startRedis();
  const broadcast = new Broadcast(
    new RedisStreamBackend({
      url: redis.url,
      maxReconnectDelayMs: 50,
      onError: () => {},
    }),
  );
  try {
    await broadcast.publish("room", "before");
    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [error, took] = await elapsed(() =>
      broadcast.publish("room", "x").then(() => null, (error) => error)
    );
    assert.match(
      String(error?.message),
      /^Cannot publish to "room": Redis at redis:\/\/127\.0\.0\.1:\d+ (is not connected \(reconnecting\): nothing was sent; retry once it is back|failed: .*)$/,
    );
    assert.ok(took < 1000, `took ${took} ms`);
    await assert.rejects(
      broadcast.presence("room").stats(),
      /Cannot read the presence of "room": Redis at /,
    );
    await redis.start();
    // Back: it reconnected by itself (and its reconnection timer is done).
    const deadline = Date.now() + 10_000;
    while (
      await broadcast.publish("room", "after").then(() => false, () => true)
    ) {
      assert.ok(Date.now() < deadline, "no reconnection");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await broadcast.close();
    await redis.stop();
  }
});

async function runPublish(
  permissions: string[],
  url: string,
): Promise<{ out: { position?: unknown; error?: string }; took: number }> {
  const start = Date.now();
  const { stdout, stderr, code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissions,
      new URL("./fixtures/redis_publish.ts", import.meta.url).pathname,
      url,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return { out: JSON.parse(text), took: Date.now() - start };
}

Deno.test("[redis] --allow-net to the server is enough; without it, a clear error naming the flag, and the process ends", async () => {
  const redis = await startRedis();
  try {
    // No --allow-env: node-redis's env reads are switched off.
    const allowed = await runPublish(
      [`--allow-net=127.0.0.1:${redis.port}`],
      redis.url,
    );
    assert.deepEqual(allowed.out, {
      position: {
        epoch: (allowed.out.position as { epoch: string }).epoch,
        offset: 1,
      },
    });
    const denied = await runPublish([], redis.url);
    assert.match(
      String(denied.out.error),
      new RegExp(
        `^Cannot connect to Redis at redis://127\\.0\\.0\\.1:${redis.port} \\(RedisStreamBackend \\(commands\\)\\): Deno denied it: .*: run with --allow-net=127\\.0\\.0\\.1:${redis.port}$`,
      ),
    );
    // Refused at once (no retries), and the process exited by itself.
    assert.ok(denied.took < 10_000, `took ${denied.took} ms`);
  } finally {
    await redis.stop();
  }
});

Deno.test("[redis] the chat demo with BROADCAST=redis and no Redis says so within 10 s and stops on SIGINT", async () => {
  const redis = await startRedis();
  await redis.stop(); // a port where nothing listens
  const served = await serve(
    new URL("../examples/chat/main.ts", import.meta.url).pathname,
    {
      flags: ["--allow-net=127.0.0.1", "--allow-env=BROADCAST,REDIS_URL"],
      env: { BROADCAST: "redis", REDIS_URL: redis.url },
    },
  );
  try {
    const deadline = Date.now() + 10_000;
    while (!served.output.includes("Cannot connect to Redis")) {
      assert.ok(Date.now() < deadline, `nothing said: ${served.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(
      served.output,
      /Cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+ \(RedisBackend \((commands|subscriber)\)\): no connection within 5000 ms .*: check that the server runs and the URL \(REDIS_URL\) is right/,
    );
  } finally {
    const [status, took] = await elapsed(() => served.stop("SIGINT"));
    assert.ok(took < 8000, `SIGINT took ${took} ms`);
    assert.notEqual(status.signal, "SIGKILL");
  }
});

Deno.test("[redis] RedisStreamBackend: 500 publications made at once go in a few scripts, with consecutive offsets, received in order", async () => {
  const redis = await startRedis();
  const publisher = new Broadcast(new RedisStreamBackend({ url: redis.url }));
  const receiver = new Broadcast(new RedisStreamBackend({ url: redis.url }), {
    maxQueuedEvents: 1000,
  });
  const controller = new AbortController();
  const scripts = async () =>
    Number(
      /cmdstat_evalsha:calls=(\d+)/.exec(
        await redisCommand(redis.port, "INFO commandstats"),
      )?.[1] ?? 0,
    );
  try {
    const events = receiver.subscribe<number>("room", {
      signal: controller.signal,
    });
    await events.ready;
    await publisher.publish("room", -1); // connected, script loaded
    assert.equal((await events.next()).value?.data, -1);
    const before = await scripts();
    const positions = await Promise.all(
      Array.from({ length: 500 }, (_, n) => publisher.publish("room", n)),
    );
    const calls = await scripts() - before;
    assert.ok(calls >= 2 && calls <= 10, `${calls} scripts for 500`);
    assert.deepEqual(
      positions.map((position) => position.offset),
      Array.from({ length: 500 }, (_, n) => n + 2),
    );
    assert.ok(positions.every((p) => p.epoch === positions[0].epoch));
    const got = [];
    for (let n = 0; n < 500; n++) {
      const { value } = await events.next();
      got.push([value!.data, value!.offset]);
    }
    assert.deepEqual(got, Array.from({ length: 500 }, (_, n) => [n, n + 2]));
    // And the history holds them, for a client that resumes.
    const resumed = receiver.subscribe<number>("room", {
      since: positions[497],
      signal: controller.signal,
    });
    assert.equal(await resumed.recovered, true);
    assert.deepEqual(
      [(await resumed.next()).value?.data, (await resumed.next()).value?.data],
      [498, 499],
    );
  } finally {
    controller.abort();
    await publisher.close();
    await receiver.close();
    await redis.stop();
  }
});

Deno.test("[redis] RedisStreamBackend: messages lost while the subscriber connection was cut are filled in from the stream, in order", async () => {
  const redis = await startRedis();
  const publisher = new Broadcast(new RedisStreamBackend({ url: redis.url }));
  const receiver = new Broadcast(
    new RedisStreamBackend({
      url: redis.url,
      maxReconnectDelayMs: 200,
      onError: () => {},
    }),
  );
  const controller = new AbortController();
  try {
    const events = receiver.subscribe<number>("room", {
      signal: controller.signal,
    });
    await events.ready;
    await publisher.publish("room", 0);
    assert.equal((await events.next()).value?.data, 0);
    // Cut the receiver's pub/sub connection: Redis drops what is published
    // until node-redis has reconnected and subscribed again.
    const killed = await redisCommand(redis.port, "CLIENT KILL TYPE pubsub");
    assert.match(killed, /^:[1-9]/);
    for (let n = 1; n <= 5; n++) await publisher.publish("room", n);
    // Once it has subscribed again, the next live message shows the gap.
    const deadline = Date.now() + 10_000;
    while (
      !(await redisCommand(redis.port, "PUBSUB NUMSUB wsapi:{room}:live"))
        .endsWith(":1\r\n")
    ) {
      assert.ok(Date.now() < deadline, "not subscribed again");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await publisher.publish("room", 6);
    const got: number[] = [];
    while (got.length < 6) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        events.next(),
        new Promise<null>((resolve) => timer = setTimeout(resolve, 5000, null)),
      ]);
      clearTimeout(timer);
      assert.ok(next !== null, `only ${JSON.stringify(got)} arrived`);
      got.push(next.value!.data);
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
  } finally {
    controller.abort();
    await publisher.close();
    await receiver.close();
    await redis.stop();
  }
});

async function redisCommand(port: number, command: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(command + "\r\n"));
    const buffer = new Uint8Array(64 * 1024);
    let length = 0;
    while (true) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) break;
      length += n;
      const text = new TextDecoder().decode(buffer.subarray(0, length));
      // A bulk reply ("$size\r\n...") may come in more than one read.
      const bulk = /^\$(\d+)\r\n/.exec(text);
      if (bulk === null || length >= bulk[0].length + Number(bulk[1]) + 2) {
        return text;
      }
    }
    return new TextDecoder().decode(buffer.subarray(0, length));
  } finally {
    conn.close();
  }
}
