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
