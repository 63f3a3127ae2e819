// Middleware: one chain for HTTP requests and WebSocket handshakes.
import assert from "node:assert/strict";
import {
  App,
  HTTPConnection,
  HTTPException,
  type Middleware,
  Router,
} from "../mod.ts";
import { TestClient, WebSocketDenialResponse } from "../testing.ts";
import { rawHandshake } from "./_raw_client.ts";
import { captureLogger } from "./_transports.ts";

// Denies without a key, records what it saw, and stamps every response.
function gate(seen: string[]): Middleware {
  return async (conn, next) => {
    const kind = conn.headers.get("upgrade") === "websocket" ? "ws" : "http";
    seen.push(`${kind} ${conn.url.pathname}`);
    if (conn.headers.get("x-key") !== "k") {
      return new Response("no key", { status: 401 });
    }
    conn.state.user = "ann";
    const response = await next();
    response.headers.set("x-gate", "passed");
    return response;
  };
}

function appWith(seen: string[]): App {
  const app = new App({ logger: captureLogger() });
  app.use(gate(seen));
  app.get("/me", {
    params: {},
    dependencies: [],
  }, (_req) => "http");
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.sendText(`hello ${ws.state.user}`);
    await ws.close();
  });
  return app;
}

Deno.test("App.use() middleware sees an HTTP request and a WebSocket handshake and denies both", async () => {
  const seen: string[] = [];
  const client = new TestClient(appWith(seen));
  const http = await client.get("/me");
  assert.equal(http.status, 401);
  assert.equal(await http.text(), "no key");
  const ws = await client.websocketConnect("/ws").catch((e) => e);
  assert.ok(ws instanceof WebSocketDenialResponse);
  assert.equal(ws.response.status, 401);
  assert.equal(await ws.response.text(), "no key");
  assert.deepEqual(seen, ["http /me", "ws /ws"]);
});

Deno.test("App.use() middleware adds headers to the 101 and to HTTP responses, and its state reaches the handler", async () => {
  const seen: string[] = [];
  const client = new TestClient(appWith(seen));
  const http = await client.get("/me", { headers: { "x-key": "k" } });
  assert.equal(await http.text(), "http");
  assert.equal(http.headers.get("x-gate"), "passed");
  await using ws = await client.websocketConnect("/ws", {
    headers: { "x-key": "k" },
  });
  assert.equal(ws.responseHeaders.get("x-gate"), "passed");
  assert.equal(await ws.receiveText(), "hello ann");
});

Deno.test("App.use() middleware works over a real server: denial, 101 headers, 404s too", async () => {
  const seen: string[] = [];
  const app = appWith(seen);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const { port } = server.addr;
    const denied = await rawHandshake(port, "/ws");
    denied.conn.close();
    assert.equal(denied.status, 401);
    assert.equal(denied.body, "no key");
    const accepted = await rawHandshake(port, "/ws", { "x-key": "k" });
    accepted.conn.close();
    assert.equal(accepted.status, 101);
    assert.equal(accepted.headers.get("x-gate"), "passed");
    // An unmatched path goes through the chain too.
    const missing = await fetch(`http://127.0.0.1:${port}/nowhere`, {
      headers: { "x-key": "k" },
    });
    await missing.body?.cancel();
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("x-gate"), "passed");
    await app.shutdown();
  } finally {
    await server.shutdown();
  }
  assert.deepEqual(seen, ["ws /ws", "ws /ws", "http /nowhere"]);
});

Deno.test("App.use() runs middleware in registration order, around each other", async () => {
  const order: string[] = [];
  const app = new App();
  for (const name of ["a", "b"]) {
    app.use(async (_conn, next) => {
      order.push(`${name} in`);
      const response = await next();
      order.push(`${name} out`);
      return response;
    });
  }
  app.use(() => {
    order.push("c (returns nothing)");
  });
  app.get("/", () => {
    order.push("handler");
    return "ok";
  });
  assert.equal(await (await new TestClient(app).get("/")).text(), "ok");
  assert.deepEqual(order, [
    "a in",
    "b in",
    "c (returns nothing)",
    "handler",
    "b out",
    "a out",
  ]);
});

Deno.test("App.use() errors go through the exception handlers, for HTTP and handshakes", async () => {
  class Banned extends Error {}
  const logger = captureLogger();
  const app = new App({ logger });
  app.exceptionHandler(
    Banned,
    (conn) =>
      Response.json({ banned: conn instanceof HTTPConnection }, {
        status: 451,
      }),
  );
  app.use((conn) => {
    const who = conn.queryParams.get("who");
    if (who === "banned") throw new Banned();
    if (who === "teapot") throw new HTTPException(418, "teapot");
    if (who === "bug") throw new Error("internal detail");
  });
  app.get("/", () => "ok");
  app.websocket("/ws", (ws) => ws.accept());
  const client = new TestClient(app, { raiseServerExceptions: false });
  const banned = await client.get("/?who=banned");
  assert.equal(banned.status, 451);
  assert.deepEqual(await banned.json(), { banned: true });
  const denied = await client.websocketConnect("/ws?who=banned").catch((e) =>
    e
  );
  assert.equal(denied.response.status, 451);
  const teapot = await client.websocketConnect("/ws?who=teapot").catch((e) =>
    e
  );
  assert.equal(teapot.response.status, 418);
  assert.deepEqual(await teapot.response.json(), { detail: "teapot" });
  const bug = await client.get("/?who=bug");
  assert.equal(bug.status, 500);
  // The body never carries the internal message; the log does.
  assert.equal(await bug.text(), "Internal Server Error");
  assert.match(String(logger.errors[0][0]), /Unhandled error in middleware/);
  assert.equal((logger.errors[0][1] as Error).message, "internal detail");
});

Deno.test("App.use() cannot replace an accepted 101: the socket opens and the mistake is logged", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.use(async (_conn, next) => {
    await next();
    return new Response("replaced");
  });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.sendText("still open");
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
    const message = await new Promise<string>((resolve, reject) => {
      socket.onmessage = (event) => resolve(event.data);
      socket.onerror = () => reject(new Error("socket failed"));
    });
    assert.equal(message, "still open");
    const closed = new Promise((resolve) => socket.onclose = resolve);
    socket.close();
    await closed;
    await app.shutdown();
  } finally {
    await server.shutdown();
  }
  assert.match(String(logger.errors[0][0]), /Cannot replace the 101/);
});

Deno.test("Router.use() middleware runs after routing, only for that router's routes, and can deny a handshake", async () => {
  const seen: string[] = [];
  const rooms = new Router().use((conn) => {
    seen.push(`rooms ${conn.pathParams.room}`);
    if (conn.pathParams.room === "secret") {
      return new Response("members only", { status: 403 });
    }
    conn.state.room = conn.pathParams.room;
  });
  rooms.websocket("/{room}", async (ws) => {
    await ws.accept();
    await ws.sendText(`in ${ws.state.room} as ${ws.state.user}`);
    await ws.close();
  });
  const app = new App();
  app.use((conn) => {
    conn.state.user = "bo";
  });
  app.include(rooms, { prefix: "/rooms" });
  app.websocket("/other", {
    middleware: [() => new Response("route-level", { status: 409 })],
  }, (ws) => ws.accept());
  app.get("/plain", () => "plain");
  const client = new TestClient(app);
  await using ws = await client.websocketConnect("/rooms/lobby");
  assert.equal(await ws.receiveText(), "in lobby as bo");
  const secret = await client.websocketConnect("/rooms/secret").catch((e) => e);
  assert.equal(secret.response.status, 403);
  const other = await client.websocketConnect("/other").catch((e) => e);
  assert.equal(other.response.status, 409);
  assert.equal(await (await client.get("/plain")).text(), "plain");
  assert.deepEqual(seen, ["rooms lobby", "rooms secret"]);
});

Deno.test("App.use() and Router.use() reject what is not a function", () => {
  assert.throws(
    () => new App().use("nope" as unknown as Middleware),
    {
      name: "TypeError",
      message: /Cannot add middleware: expected a function/,
    },
  );
  assert.throws(
    () => new Router().use(42 as unknown as Middleware),
    { name: "TypeError", message: /Cannot add middleware/ },
  );
});
