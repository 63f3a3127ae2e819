// The lifespan: startup before the first request, state at app.state, the
// end after shutdown() closed every socket and ran every cleanup.
import assert from "node:assert/strict";
import { App, Depends, shutdownOnSignals } from "../mod.ts";
import { TestClient } from "../testing.ts";
import { ChatClient, serve } from "./_serve.ts";
import { captureLogger } from "./_transports.ts";

Deno.test("lifespan runs once before the first request; its state is app.state and conn.app.state", async () => {
  const events: string[] = [];
  const app = new App({
    async *lifespan(app) {
      events.push(`startup ${app instanceof App}`);
      yield { db: "pool" };
      events.push("end");
    },
  });
  app.get("/", () => String(app.state.db));
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.sendText(String(ws.app.state.db));
  });
  assert.deepEqual(app.state, {});
  const client = new TestClient(app);
  const [a, b] = await Promise.all([client.get("/"), client.get("/")]);
  assert.equal(await a.text(), "pool");
  assert.equal(await b.text(), "pool");
  await using ws = await client.websocketConnect("/ws");
  assert.equal(await ws.receiveText(), "pool");
  assert.deepEqual(events, ["startup true"]);
  await app.shutdown();
  assert.deepEqual(events, ["startup true", "end"]);
  // Once only.
  await app.shutdown();
  assert.deepEqual(events, ["startup true", "end"]);
});

Deno.test("lifespan ends after shutdown() has closed every socket and run every cleanup", async () => {
  const events: string[] = [];
  const app = new App({
    async *lifespan() {
      yield;
      events.push("lifespan end");
    },
  });
  async function* resource() {
    yield "r";
    await new Promise((resolve) => setTimeout(resolve, 20));
    events.push("cleanup");
  }
  app.websocket("/ws", { params: { r: Depends(resource) } }, async (ws) => {
    await ws.accept();
    await ws.sendText("ready");
    await ws.receiveText().catch(() => events.push("handler closed"));
  });
  const client = new TestClient(app);
  await using ws = await client.websocketConnect("/ws");
  assert.equal(await ws.receiveText(), "ready");
  await app.shutdown();
  assert.deepEqual(events, ["handler closed", "cleanup", "lifespan end"]);
});

Deno.test("lifespan that fails at startup: logged, and requests get 503", async () => {
  const logger = captureLogger();
  const app = new App({
    logger,
    // deno-lint-ignore require-yield
    async *lifespan() {
      throw new Error("no database");
    },
  });
  app.get("/", () => "never");
  const response = await new TestClient(app).get("/");
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "Service Unavailable: startup failed");
  assert.match(String(logger.errors[0][0]), /Lifespan startup failed/);
  assert.equal((logger.errors[0][1] as Error).message, "no database");
});

Deno.test("lifespan that must be a generator function is checked at construction", () => {
  assert.throws(
    () => new App({ lifespan: "no" as unknown as undefined }),
    { name: "TypeError", message: /lifespan must be an async generator/ },
  );
});

Deno.test("shutdownOnSignals() returns a function that removes its listeners", () => {
  const stop = shutdownOnSignals(new App(), { signals: ["SIGUSR2"] });
  stop();
  // Removing twice is harmless.
  stop();
});

Deno.test("deno serve with SIGTERM: startup, serving, handler end, cleanup, lifespan end, in that order", async () => {
  const server = await serve("_test/fixtures/lifespan_app.ts");
  let status: Deno.CommandStatus;
  let code: number;
  try {
    const client = await ChatClient.open(server.port, "/ws");
    await client.expect("hello from the lifespan");
    status = await server.stop("SIGTERM");
    code = (await client.closed).code;
  } finally {
    status = await server.stop("SIGKILL");
  }
  assert.equal(code, 1001);
  const steps = [...server.output.matchAll(/step: (.+)/g)].map((m) => m[1]);
  assert.deepEqual(steps, [
    "startup",
    "handler saw the close",
    "dependency cleanup",
    "lifespan end",
  ]);
  assert.equal(status.signal, "SIGTERM");
});

// What an isolate of lifespan_isolates.ts answers: itself, and what its
// handler read from the lifespan's state.
interface IsolateAnswer {
  isolate: string;
  state: string | null;
}

async function firstMessage(client: ChatClient): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (client.messages.length === 0) {
    if (Date.now() > deadline) throw new Error("no message arrived");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return client.messages[0];
}

Deno.test("deno serve --parallel: each isolate runs its lifespan once before serving, its handlers see its state, and SIGTERM ends both", async () => {
  const server = await serve("_test/fixtures/lifespan_isolates.ts", {
    flags: ["--parallel"],
    env: { DENO_JOBS: "2" },
  });
  const isolates = new Set<string>();
  const clients: ChatClient[] = [];
  let status: Deno.CommandStatus;
  try {
    assert.match(server.banner, /with 2 threads/);
    // A fresh connection per request, one at a time, until both isolates
    // have answered (connections opened at once all go to one isolate).
    for (let i = 0; i < 40 && isolates.size < 2; i++) {
      const http = Deno.createHttpClient({});
      try {
        const response = await fetch(
          `http://127.0.0.1:${server.port}/isolate`,
          { client: http },
        );
        const answer: IsolateAnswer = await response.json();
        // The isolate's own lifespan state, never another's, never none.
        assert.equal(answer.state, answer.isolate);
        isolates.add(answer.isolate);
      } finally {
        http.close();
      }
    }
    assert.equal(isolates.size, 2, "both isolates answered");
    // And a WebSocket on each, whose handler reads ws.app.state.
    const overWebSocket = new Set<string>();
    for (let i = 0; i < 40 && overWebSocket.size < 2; i++) {
      const client = await ChatClient.open(server.port, "/ws");
      clients.push(client);
      const answer: IsolateAnswer = JSON.parse(await firstMessage(client));
      assert.equal(answer.state, answer.isolate);
      assert.ok(isolates.has(answer.isolate), "one of the two isolates");
      overWebSocket.add(answer.isolate);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(overWebSocket.size, 2, "a WebSocket on each isolate");
    status = await server.stop("SIGTERM");
    const codes = await Promise.all(
      clients.map(async (client) => (await client.closed).code),
    );
    assert.deepEqual(new Set(codes), new Set([1001]));
  } finally {
    status = await server.stop("SIGKILL");
  }
  assert.equal(status.signal, "SIGTERM");
  // Each isolate's steps, in the order it wrote them (Deno puts the
  // worker's name before each line: "[serve-worker-0 ] ").
  const steps = new Map<string, string[]>();
  const line = /([0-9a-f-]{36}) (.+)$/gm;
  for (const [, isolate, text] of server.output.matchAll(line)) {
    if (!steps.has(isolate)) steps.set(isolate, []);
    steps.get(isolate)!.push(text);
  }
  assert.deepEqual(new Set(steps.keys()), isolates);
  for (const [isolate, list] of steps) {
    const where = `isolate ${isolate}: ${list.join(", ")}`;
    // One start, before the first request it served; one end, after the
    // last close its handlers saw.
    assert.equal(list.filter((s) => s === "lifespan start").length, 1, where);
    assert.equal(list.filter((s) => s === "lifespan end").length, 1, where);
    assert.equal(list[0], "lifespan start", where);
    assert.equal(list.at(-1), "lifespan end", where);
    assert.ok(list.includes("served http"), where);
    assert.ok(list.includes("served websocket"), where);
    assert.ok(list.includes("handler saw the close"), where);
  }
});
