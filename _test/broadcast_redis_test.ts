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
