// The chat example on each backend, run as users run it: `deno serve`
// processes, real sockets.
import assert from "node:assert/strict";
import { serve } from "./_serve.ts";
import { Member } from "./_chat_member.ts";
import { startRedis } from "./_redis.ts";

const CHAT = "examples/chat/main.ts";
const ENV_FLAGS = ["--allow-env=BROADCAST,REDIS_URL"];
const SPLIT_WARNING =
  "MemoryBackend: another isolate of this process runs its own MemoryBackend (deno serve --parallel?)";

Deno.test("Chat: two server processes sharing one Redis carry each other's messages", async () => {
  const redis = await startRedis();
  const env = { BROADCAST: "redis", REDIS_URL: redis.url };
  const flags = [
    ...ENV_FLAGS,
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-sys",
  ];
  const servers = await Promise.all([
    serve(CHAT, { flags, env }),
    serve(CHAT, { flags, env }),
  ]);
  try {
    assert.notEqual(servers[0].port, servers[1].port);
    const alice = await Member.join(url(servers[0].port), "Alice");
    const bob = await Member.join(url(servers[1].port), "Bob");
    // A message published before both have subscribed could be missed:
    // repeat the greeting until the other side hears it.
    for (let i = 0; !bob.lines.includes("Alice: hello") && i < 50; i++) {
      await alice.say("hello");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await bob.expect("Alice: hello");
    await alice.expect("Alice: hello");
    await bob.say("hi alice");
    await alice.expect("Bob: hi alice");
    await bob.close();
    await alice.expect("Bob left");
    await alice.close();
  } finally {
    for (const server of servers) await server.stop();
    await redis.stop();
  }
});

const url = (port: number) => `ws://127.0.0.1:${port}`;

interface Placement {
  server: Awaited<ReturnType<typeof serve>>;
  sockets: Member[];
  /** Client id → isolate. */
  isolateOf: Map<string, string>;
}

// Opens clients one at a time (connections opened at once all go to one
// isolate), a few more until both isolates serve some, and asks each
// isolate, over fresh connections, whom it serves.
async function parallelChat(
  backend: string,
  atLeast: number,
): Promise<Placement> {
  const server = await serve("_test/fixtures/chat_isolates.ts", {
    flags: [...ENV_FLAGS, "--parallel"],
    env: { BROADCAST: backend, DENO_JOBS: "2" },
  });
  const sockets: Member[] = [];
  let isolateOf = new Map<string, string>();
  while (sockets.length < 32) {
    for (let i = 0; i < 4; i++) {
      sockets.push(
        await Member.join(url(server.port), String(100 + sockets.length)),
      );
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (sockets.length < atLeast) continue;
    isolateOf = await placement(server.port, sockets.length);
    if (new Set(isolateOf.values()).size === 2) break;
  }
  assert.equal(isolateOf.size, sockets.length, "every isolate answered");
  return { server, sockets, isolateOf };
}

async function placement(
  port: number,
  clients: number,
): Promise<Map<string, string>> {
  const isolateOf = new Map<string, string>();
  for (let i = 0; i < 40 && isolateOf.size < clients; i++) {
    const http = Deno.createHttpClient({});
    try {
      const response = await fetch(`http://127.0.0.1:${port}/isolate`, {
        client: http,
      });
      const { isolate, clients: served } = await response.json();
      for (const id of served) isolateOf.set(id, isolate);
    } finally {
      http.close();
    }
  }
  return isolateOf;
}

Deno.test("Chat under deno serve --parallel: the BroadcastChannel backend reaches clients on every isolate", async () => {
  const { server, sockets, isolateOf } = await parallelChat(
    "broadcastchannel",
    8,
  );
  const leaver = sockets.length - 1;
  try {
    assert.match(server.banner, /with 2 threads/);
    assert.equal(
      new Set(isolateOf.values()).size,
      2,
      "the clients are on both isolates",
    );
    await sockets[0].say("to everyone");
    await Promise.all(
      sockets.map((socket) => socket.expect("100: to everyone")),
    );
    await sockets[leaver].close();
    await Promise.all(
      sockets.slice(0, leaver).map((socket) =>
        socket.expect(`${100 + leaver} left`)
      ),
    );
    assert.ok(!server.output.includes(SPLIT_WARNING), server.output);
  } finally {
    await Promise.all(sockets.slice(0, leaver).map((socket) => socket.close()));
    await server.stop();
  }
});

Deno.test("Chat under deno serve --parallel: the memory backend reaches only the sender's isolate", async () => {
  const { server, sockets, isolateOf } = await parallelChat("memory", 8);
  try {
    assert.equal(
      new Set(isolateOf.values()).size,
      2,
      "the clients are on both isolates",
    );
    // Not silent: the isolates notice each other and say what to use.
    const deadline = Date.now() + 10_000;
    while (!server.output.includes(SPLIT_WARNING)) {
      assert.ok(Date.now() < deadline, `no warning in: ${server.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(
      server.output,
      /use BroadcastChannelBackend \(one machine\) or RedisStreamBackend \(many\)/,
    );
    await sockets[0].say("to everyone");
    await sockets[0].expect("100: to everyone");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sender = isolateOf.get("100");
    sockets.forEach((socket, i) => {
      const sameIsolate = isolateOf.get(String(100 + i)) === sender;
      assert.equal(
        socket.lines.includes("100: to everyone"),
        sameIsolate,
        `client ${100 + i}`,
      );
    });
  } finally {
    await Promise.all(sockets.map((socket) => socket.close()));
    await server.stop();
  }
});
