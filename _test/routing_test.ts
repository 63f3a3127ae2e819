import assert from "node:assert/strict";
import {
  App,
  HTTPException,
  NoMatchFound,
  Router,
  WebSocket,
  WebSocketDisconnect,
  WebSocketException,
  WebSocketRoute,
} from "../mod.ts";
import { TestClient, WebSocketDenialResponse } from "../testing.ts";
import { captureLogger } from "./_transports.ts";

// The library's WebSocket shadows the global client class in this file.
const ClientWebSocket = globalThis.WebSocket;

async function refusal(
  promise: Promise<unknown>,
): Promise<WebSocketDisconnect> {
  const error = await promise.then(
    () => assert.fail("expected a refusal"),
    (e) => e,
  );
  assert.ok(error instanceof WebSocketDisconnect, String(error));
  return error;
}

function paramsApp(template: string): App {
  const app = new App();
  app.get(template, (request) => new URL(request.url).pathname);
  app.websocket(template, async (ws) => {
    await ws.accept();
    await ws.sendJson(ws.pathParams);
  });
  return app;
}

async function paramsOf(app: App, path: string): Promise<unknown> {
  await using ws = await new TestClient(app).websocketConnect(path);
  return await ws.receiveJson();
}

Deno.test("Path converter str matches one segment, percent-decoded", async () => {
  const app = paramsApp("/s/{name}");
  assert.deepEqual(await paramsOf(app, "/s/a%20b%2Fc"), { name: "a b/c" });
  assert.equal(
    (await refusal(new TestClient(app).websocketConnect("/s/a/b"))).code,
    1000,
  );
  assert.equal((await new TestClient(app).get("/s/")).status, 404);
  assert.equal(
    (await new TestClient(app).get("/s/%E0%A4%A")).status,
    404,
    "malformed escape",
  );
});

Deno.test("Path converter int takes digits only", async () => {
  const app = paramsApp("/i/{n:int}");
  assert.deepEqual(await paramsOf(app, "/i/0042"), { n: 42 });
  for (const bad of ["-1", "1.5", "x", "1e3", ""]) {
    assert.equal((await new TestClient(app).get(`/i/${bad}`)).status, 404, bad);
  }
});

Deno.test("Path converter float takes digits with an optional fraction", async () => {
  const app = paramsApp("/f/{x:float}");
  assert.deepEqual(await paramsOf(app, "/f/2"), { x: 2 });
  assert.deepEqual(await paramsOf(app, "/f/2.25"), { x: 2.25 });
  for (const bad of ["-2", ".5", "2.", "1e5", "NaN"]) {
    assert.equal((await new TestClient(app).get(`/f/${bad}`)).status, 404, bad);
  }
});

Deno.test("Path converter uuid accepts hyphens or none and normalises", async () => {
  const app = paramsApp("/u/{id:uuid}");
  const id = "123e4567-e89b-12d3-a456-426614174000";
  assert.deepEqual(await paramsOf(app, `/u/${id.toUpperCase()}`), { id });
  assert.deepEqual(await paramsOf(app, `/u/${id.replaceAll("-", "")}`), { id });
  for (const bad of ["123", id + "0", id.replace("e", "g")]) {
    assert.equal((await new TestClient(app).get(`/u/${bad}`)).status, 404, bad);
  }
});

Deno.test("Path converter path takes the rest, slashes included, possibly empty", async () => {
  const app = paramsApp("/p/{rest:path}");
  assert.deepEqual(await paramsOf(app, "/p/a/b/c.txt"), { rest: "a/b/c.txt" });
  assert.deepEqual(await paramsOf(app, "/p/"), { rest: "" });
});

Deno.test("A raw URLPattern route matches with string groups", async () => {
  const app = new App();
  app.websocket(
    new URLPattern({ pathname: "/raw/:kind/:id(\\d+)" }),
    async (ws) => {
      await ws.accept();
      await ws.sendJson(ws.pathParams);
    },
  );
  assert.deepEqual(await paramsOf(app, "/raw/a%20b/7"), {
    kind: "a b",
    id: "7",
  });
});

Deno.test("Router.include() prefixes nested routers, later additions included", async () => {
  const inner = new Router();
  inner.get("/items/{id:int}", { name: "item" }, () => "item");
  const middle = new Router({ prefix: "/v1" });
  middle.include(inner, { prefix: "/shop" });
  const app = new App();
  app.include(middle, { prefix: "/api" });
  // Added after inclusion: still served (FastAPI ≥ 0.137 behaviour).
  inner.websocket("/live", { name: "live" }, async (ws) => {
    await ws.accept();
    await ws.sendText(
      ws.urlFor("item", { id: 3 }).href + " " + ws.urlFor("live").href,
    );
  });
  const client = new TestClient(app);
  assert.equal(await (await client.get("/api/v1/shop/items/3")).text(), "item");
  assert.equal((await client.get("/shop/items/3")).status, 404);
  assert.deepEqual(app.routes.map((route) => route.path), [
    "/api/v1/shop/items/{id:int}",
    "/api/v1/shop/live",
  ]);
  assert.equal(app.urlPathFor("item", { id: 3 }), "/api/v1/shop/items/3");
  await using ws = await client.websocketConnect("/api/v1/shop/live");
  assert.equal(
    await ws.receiveText(),
    "http://testserver/api/v1/shop/items/3 ws://testserver/api/v1/shop/live",
  );
});

Deno.test("Router.include() rejects malformed prefixes and cycles", () => {
  const a = new Router();
  const b = new Router();
  assert.throws(
    () => a.include(b, { prefix: "api" }),
    TypeError,
    'must start with "/"',
  );
  assert.throws(
    () => a.include(b, { prefix: "/api/" }),
    TypeError,
    'must not end with "/"',
  );
  assert.throws(
    () => a.include(b, { prefix: "/{x}" }),
    TypeError,
    "without parameters",
  );
  assert.throws(
    () => new Router({ prefix: "/v1/" }),
    TypeError,
    'must not end with "/"',
  );
  a.include(b);
  assert.throws(() => b.include(a), TypeError, "would make a cycle");
  assert.throws(() => a.include(a), TypeError, "would make a cycle");
  assert.throws(() => a.include({} as Router), TypeError, "expected a Router");
});

Deno.test("A wrong-kind request: upgrade to an HTTP path is 403, GET to a WebSocket path 426", async () => {
  const app = new App();
  app.get("/page", () => "page");
  app.websocket("/ws", async (ws) => await ws.accept());
  const client = new TestClient(app);
  assert.equal((await refusal(client.websocketConnect("/page"))).code, 1000);
  const response = await client.get("/ws");
  assert.equal(response.status, 426);
  await response.body?.cancel();
});

Deno.test("App.mount() delegates HTTP under its prefix, in registration order", async () => {
  const app = new App();
  app.get("/files/special", () => "route before the mount");
  app.mount(
    "/files",
    (request) => new Response(`mounted ${new URL(request.url).pathname}`),
  );
  app.get("/files/late", () => "shadowed by the mount");
  const client = new TestClient(app);
  assert.equal(
    await (await client.get("/files/special")).text(),
    "route before the mount",
  );
  assert.equal(
    await (await client.get("/files/late")).text(),
    "mounted /files/late",
  );
  assert.equal(await (await client.get("/files")).text(), "mounted /files");
  assert.equal(
    (await client.get("/filesystem")).status,
    404,
    "prefix is a whole segment",
  );
  assert.throws(
    () => app.mount("", () => new Response()),
    TypeError,
    "must not be empty",
  );
});

Deno.test("App.mount() delegates WebSocket upgrades on a real server", async () => {
  const app = new App();
  app.mount("/raw", (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(`raw: ${event.data}`);
    return response;
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const ws = new ClientWebSocket(
      `ws://127.0.0.1:${server.addr.port}/raw/socket`,
    );
    const reply = await new Promise((resolve, reject) => {
      ws.onopen = () => ws.send("hi");
      ws.onmessage = (event) => resolve(event.data);
      ws.onerror = () => reject(new Error("handshake failed"));
    });
    assert.equal(reply, "raw: hi");
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;
  } finally {
    await server.shutdown();
  }
});

Deno.test("App.mount() turns a mounted handler's error into a logged 500", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.mount("/broken", () => {
    throw new Error("mount broke");
  });
  const response = await new TestClient(app, { raiseServerExceptions: false })
    .get("/broken/x");
  assert.equal(response.status, 500);
  await response.body?.cancel();
  assert.match(
    String(logger.errors[0][0]),
    /mounted handler for "\/broken\/x"/,
  );
});

Deno.test("app.fetch works inside another server's handler", async () => {
  const app = new App();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.sendText(`inner ${ws.client?.hostname}`);
    await ws.close();
  });
  const outer: Deno.ServeHandler = (request, info) =>
    new URL(request.url).pathname === "/ws"
      ? app.fetch(request, info)
      : new Response("outer");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    outer,
  );
  try {
    assert.equal(
      await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text(),
      "outer",
    );
    const ws = new ClientWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
    const message = await new Promise((resolve) =>
      ws.onmessage = (e) => resolve(e.data)
    );
    assert.equal(message, "inner 127.0.0.1");
    await new Promise((resolve) => ws.onclose = resolve);
  } finally {
    await server.shutdown();
  }
});

class BaseError extends Error {}
class SubError extends BaseError {}
class OtherSubError extends BaseError {}

Deno.test("App.exceptionHandler() picks the most specific class, for HTTP", async () => {
  const app = new App();
  app.exceptionHandler(BaseError, () => new Response("base", { status: 400 }));
  app.exceptionHandler(
    SubError,
    (conn, error) =>
      new Response(`sub ${error.message} ${conn.url.pathname}`, {
        status: 409,
      }),
  );
  app.get("/sub", () => {
    throw new SubError("s");
  });
  app.get("/other", () => {
    throw new OtherSubError("o");
  });
  const client = new TestClient(app);
  const sub = await client.get("/sub");
  assert.equal(sub.status, 409);
  assert.equal(await sub.text(), "sub s /sub");
  const other = await client.get("/other");
  assert.equal(other.status, 400);
  assert.equal(await other.text(), "base");
});

Deno.test("App.exceptionHandler() works before and after accept on WebSocket routes", async () => {
  const app = new App();
  app.exceptionHandler(SubError, async (conn) => {
    if (conn instanceof WebSocket && conn.applicationState === 1) {
      await conn.close(4444, "handled");
    } else return new Response("denied by handler", { status: 451 });
  });
  app.websocket("/before", () => {
    throw new SubError();
  });
  app.websocket("/after", async (ws) => {
    await ws.accept();
    throw new SubError();
  });
  const client = new TestClient(app);
  const denied = await client.websocketConnect("/before").catch((e) => e);
  assert.ok(denied instanceof WebSocketDenialResponse);
  assert.equal(denied.response.status, 451);
  assert.equal(await denied.response.text(), "denied by handler");
  await using ws = await client.websocketConnect("/after");
  const closed = await ws.receiveText().catch((e) => e);
  assert.equal(closed.code, 4444);
  assert.equal(closed.reason, "handled");
});

Deno.test("App.exceptionHandler() can replace the built-in HTTPException and WebSocketException behaviour", async () => {
  const app = new App();
  app.exceptionHandler(
    HTTPException,
    (_conn, error) =>
      new Response(`custom ${error.status}`, { status: error.status }),
  );
  app.exceptionHandler(WebSocketException, async (conn, error) => {
    if (conn instanceof WebSocket) {
      await conn.close(4000 + (error.code % 1000), "mapped");
    }
  });
  app.get("/http", () => {
    throw new HTTPException(418);
  });
  app.websocket("/ws", () => {
    throw new WebSocketException(1008);
  });
  const client = new TestClient(app);
  assert.equal(await (await client.get("/http")).text(), "custom 418");
  const error = await refusal(client.websocketConnect("/ws"));
  assert.equal(error.code, 4008);
  assert.equal(error.reason, "mapped");
});

Deno.test("An exception handler that fails, or returns nothing on HTTP, gives a logged 500", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.exceptionHandler(SubError, () => {
    throw new Error("handler broke");
  });
  app.exceptionHandler(OtherSubError, () => {});
  app.get("/broken", () => {
    throw new SubError();
  });
  app.get("/silent", () => {
    throw new OtherSubError();
  });
  const client = new TestClient(app, { raiseServerExceptions: false });
  for (const path of ["/broken", "/silent"]) {
    const response = await client.get(path);
    assert.equal(response.status, 500);
    await response.body?.cancel();
  }
  assert.equal((logger.errors[0][1] as Error).message, "handler broke");
  assert.match((logger.errors[1][1] as Error).message, /returned no Response/);
});

function originApp(options: ConstructorParameters<typeof App>[0] = {}): App {
  const app = new App(options);
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.close();
  });
  return app;
}

async function originStatus(
  app: App,
  origin?: string,
  host = "testserver",
): Promise<number> {
  const headers: Record<string, string> = { host };
  if (origin !== undefined) headers.origin = origin;
  try {
    const ws = await new TestClient(app).websocketConnect("/ws", { headers });
    await ws.close();
    return 101;
  } catch (error) {
    if (error instanceof WebSocketDenialResponse) {
      await error.response.body?.cancel();
      return error.response.status;
    }
    throw error;
  }
}

Deno.test("Origin policy by default: absent and same-origin pass, cross-origin gets 403 and a log line", async () => {
  const logger = captureLogger();
  const app = originApp({ logger });
  assert.equal(await originStatus(app), 101);
  assert.equal(await originStatus(app, "http://testserver"), 101);
  assert.equal(
    await originStatus(app, "https://TestServer"),
    101,
    "host compared, case-insensitive",
  );
  assert.equal(
    await originStatus(app, "http://localhost:8000", "localhost:8000"),
    101,
  );
  assert.equal(await originStatus(app, "https://evil.example"), 403);
  assert.equal(await originStatus(app, "http://testserver:8080"), 403);
  assert.equal(await originStatus(app, "null"), 403);
  assert.equal(logger.warnings.length, 3);
  assert.match(
    String(logger.warnings[0][0]),
    /Refused WebSocket upgrade to "\/ws": Origin "https:\/\/evil.example" is cross-origin/,
  );
});

Deno.test("Origin policy: a list, a predicate, the wildcard, and a per-route override", async () => {
  const listed = originApp({
    allowedOrigins: ["https://App.example", "http://localhost:3000"],
    logger: captureLogger(),
  });
  assert.equal(await originStatus(listed, "https://app.example"), 101);
  assert.equal(await originStatus(listed, "http://localhost:3000"), 101);
  assert.equal(
    await originStatus(listed, "http://testserver"),
    403,
    "a list replaces same-origin",
  );
  assert.equal(await originStatus(listed), 101, "no Origin: not a browser");

  const seen: string[] = [];
  const predicate = originApp({
    allowedOrigins: (origin, request) => {
      seen.push(new URL(request.url).pathname);
      return origin.endsWith(".trusted.example");
    },
    logger: captureLogger(),
  });
  assert.equal(await originStatus(predicate, "https://a.trusted.example"), 101);
  assert.equal(await originStatus(predicate, "https://untrusted.example"), 403);
  assert.deepEqual(seen, ["/ws", "/ws"]);

  assert.equal(
    await originStatus(
      originApp({ allowedOrigins: "*" }),
      "https://any.example",
    ),
    101,
  );

  const app = new App({ logger: captureLogger() });
  app.websocket(
    "/ws",
    { allowedOrigins: ["https://widget.example"] },
    async (ws) => {
      await ws.accept();
      await ws.close();
    },
  );
  assert.equal(await originStatus(app, "https://widget.example"), 101);
  assert.equal(await originStatus(app, "http://testserver"), 403);
});

Deno.test("Origin policy rejects list entries that are not bare origins", () => {
  assert.throws(
    () => new App({ allowedOrigins: ["app.example"] }),
    TypeError,
    "is not a URL origin",
  );
  assert.throws(
    () => new App({ allowedOrigins: ["https://app.example/path"] }),
    TypeError,
    'must be a bare origin (scheme, host and port), e.g. "https://app.example"',
  );
  assert.throws(
    () => new App().websocket("/ws", { allowedOrigins: ["x"] }, () => {}),
    TypeError,
    'Cannot register route "/ws"',
  );
});

Deno.test("Per-route limits are checked as the app's: a RangeError at registration", () => {
  const handler = async (ws: WebSocket) => await ws.accept();
  assert.throws(
    () => new App().websocket("/ws", { maxQueuedBytes: 0 }, handler),
    RangeError,
    'Cannot register route "/ws": maxQueuedBytes must be a positive integer, got 0',
  );
  assert.throws(
    () => new App().websocket("/ws", { maxMessageSize: 1.5 }, handler),
    RangeError,
    'Cannot register route "/ws": maxMessageSize must be a positive integer, got 1.5',
  );
  assert.throws(
    () => new App().websocket("/ws", { maxQueuedMessages: -1 }, handler),
    RangeError,
    'Cannot register route "/ws": maxQueuedMessages must be a positive integer, got -1',
  );
  assert.throws(
    () => new App().websocket("/ws", { idleTimeout: -1 }, handler),
    RangeError,
    'Cannot register route "/ws": idleTimeout must be a whole number of seconds (0 disables), got -1',
  );
  assert.throws(
    () => new Router().websocket("/ws", { maxQueuedBytes: Infinity }, handler),
    RangeError,
    "maxQueuedBytes must be a positive integer, got Infinity",
  );
  // 0 disables the idle timeout, on a route as on the app.
  new App().websocket("/ws", { idleTimeout: 0, maxQueuedBytes: 1 }, handler);
});

Deno.test("Per-route limits override the app's", async () => {
  const app = new App({ maxMessageSize: 1000 });
  app.websocket("/small", { maxMessageSize: 10 }, async (ws) => {
    await ws.accept();
    await ws.receiveText().catch(() => {});
  });
  app.websocket("/default", async (ws) => {
    await ws.accept();
    await ws.sendText(await ws.receiveText());
  });
  const client = new TestClient(app);
  await using small = await client.websocketConnect("/small");
  await small.sendText("x".repeat(11));
  assert.equal((await small.receiveText().catch((e) => e)).code, 1009);
  await using ok = await client.websocketConnect("/default");
  await ok.sendText("x".repeat(11));
  assert.equal(await ok.receiveText(), "x".repeat(11));
});

Deno.test("App.shutdown() closes every socket with 1001, waits for cleanup, and refuses new upgrades", async () => {
  const app = new App();
  const cleaned: string[] = [];
  const release = Promise.withResolvers<void>();
  app.websocket("/ws/{name}", async (ws) => {
    if (ws.pathParams.name === "slow") await release.promise; // still deciding
    await ws.accept();
    try {
      for await (const _ of ws.iterText()) { /* keep reading */ }
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 10));
      cleaned.push(String(ws.pathParams.name));
    }
  });
  const client = new TestClient(app);
  const a = await client.websocketConnect("/ws/a");
  const b = await client.websocketConnect("/ws/b");
  const slow = client.websocketConnect("/ws/slow");
  assert.equal(app.connections, 3);
  const done = app.shutdown({ timeoutMs: 2000 });
  const refused = await client.websocketConnect("/ws/c").catch((e) => e);
  assert.ok(refused instanceof WebSocketDenialResponse);
  assert.equal(refused.response.status, 503);
  await refused.response.body?.cancel();
  release.resolve(); // accepted during shutdown: closed as soon as it is open
  const late = await slow;
  await done;
  for (const session of [a, b, late]) {
    const error = await session.receiveText().catch((e) => e);
    assert.ok(
      error instanceof WebSocketDisconnect,
      String(error?.stack ?? error),
    );
    assert.equal(error.code, 1001);
  }
  assert.deepEqual(cleaned.sort(), ["a", "b", "slow"]);
  assert.equal(app.connections, 0);
  assert.equal(
    await (await client.get("/ws/x")).status,
    426,
    "HTTP is still served",
  );
});

Deno.test("App.shutdown() over real sockets: clients see 1001 and the handler's cleanup ran", async () => {
  const app = new App();
  let cleanedUp = false;
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    try {
      for await (const _ of ws.iterText()) { /* keep reading */ }
    } finally {
      cleanedUp = true;
    }
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const ws = new ClientWebSocket(`ws://127.0.0.1:${server.addr.port}/ws`);
    await new Promise((resolve) => ws.onopen = resolve);
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    await app.shutdown({ reason: "bye" });
    const event = await closed;
    assert.equal(event.code, 1001);
    assert.equal(event.reason, "bye");
    assert.equal(cleanedUp, true);
    assert.equal(app.connections, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("App.shutdown() gives up after timeoutMs with a warning", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  const release = Promise.withResolvers<void>();
  app.websocket("/stuck", async (ws) => {
    await ws.accept();
    await release.promise; // ignores the close
  });
  const session = await new TestClient(app).websocketConnect("/stuck");
  await app.shutdown({ timeoutMs: 50 });
  assert.match(
    String(logger.warnings[0][0]),
    /1 WebSocket connection\(s\) still running after 50 ms/,
  );
  release.resolve();
  await session.close();
  assert.equal(app.connections, 0);
  await assert.rejects(app.shutdown({ code: 1005 }), RangeError);
});

Deno.test("App.urlPathFor() raises NoMatchFound for unknown names and wrong params", () => {
  const app = new App();
  app.include(
    new Router().websocket("/rooms/{room}", { name: "room" }, () => {}),
    { prefix: "/chat" },
  );
  assert.equal(app.urlPathFor("room", { room: "lobby" }), "/chat/rooms/lobby");
  assert.throws(
    () => app.urlPathFor("room"),
    NoMatchFound,
    'No route exists for name "room" and params ""',
  );
  assert.throws(() => app.urlPathFor("rooms", { room: "x" }), NoMatchFound);
});

Deno.test("Router keeps route objects: app.routes[i] is the same object after later registrations", () => {
  const chat = new Router();
  chat.websocket("/rooms/{room}", async (ws) => await ws.accept());
  const app = new App();
  const own = new WebSocketRoute("/ws", {}, async (ws) => await ws.accept());
  app.add(own);
  app.include(chat, { prefix: "/chat" });
  const [first, included] = app.routes;
  assert.equal(first, own, "a route added as it is stays that object");
  assert.equal(included.path, "/chat/rooms/{room}");
  // Changes elsewhere: on another app, on this app, on the included router.
  new App().get("/other", () => "other");
  app.get("/health", () => "ok");
  chat.get("/list", () => []);
  assert.equal(app.routes[0], first);
  assert.equal(app.routes[1], included);
  assert.deepEqual(app.routes.map((route) => route.path), [
    "/ws",
    "/chat/rooms/{room}",
    "/chat/list",
    "/health",
  ]);
});

Deno.test("Router serves routes added to an included router after the inclusion, at every level", async () => {
  const inner = new Router();
  const outer = new Router();
  outer.include(inner, { prefix: "/inner" });
  const app = new App();
  app.include(outer, { prefix: "/outer" });
  const client = new TestClient(app);
  assert.equal((await client.get("/outer/inner/late")).status, 404);
  inner.get("/late", () => "late");
  const response = await client.get("/outer/inner/late");
  assert.equal(await response.text(), "late");
});
