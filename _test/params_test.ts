import assert from "node:assert/strict";
import { z } from "zod";
import * as v from "valibot";
import {
  App,
  bool,
  Cookie,
  Depends,
  float,
  Header,
  HTTPException,
  int,
  list,
  Path,
  Query,
  Router,
  Security,
  SecurityScopes,
  type StandardSchemaV1,
  str,
  uuid,
  WebSocketDisconnect,
  WebSocketException,
  WebSocketRequestValidationError,
} from "../mod.ts";
import { TestClient, WebSocketDenialResponse } from "../testing.ts";
import { captureLogger } from "./_transports.ts";

async function get(app: App, path: string, init?: RequestInit) {
  const response = await new TestClient(app).get(path, init);
  return { status: response.status, body: await response.json() };
}

Deno.test("Query() reads, converts, renames, defaults and collects lists", async () => {
  const app = new App();
  app.get("/", {
    params: {
      q: Query(),
      n: Query(int, { optional: true }),
      page: Query(int, { default: 1 }),
      tags: Query(list(int), { name: "tag", default: [] }),
      flag: Query(bool, { optional: true }),
      ratio: Query(float, { optional: true }),
      id: Query(uuid, { optional: true }),
    },
  }, (_req, args) => args);
  assert.deepEqual(
    (await get(
      app,
      "/?q=x&n=-3&tag=1&tag=2&flag=off&ratio=2.5e1&id=123E4567E89B12D3A456426614174000",
    )).body,
    {
      q: "x",
      n: -3,
      page: 1,
      tags: [1, 2],
      flag: false,
      ratio: 25,
      id: "123e4567-e89b-12d3-a456-426614174000",
    },
  );
  assert.deepEqual((await get(app, "/?q=x&q=last")).body, {
    q: "last",
    page: 1,
    tags: [],
  });
});

Deno.test("Invalid and missing values are all reported, with FastAPI's shapes, as 422", async () => {
  const app = new App();
  app.get("/", {
    params: {
      q: Query(),
      n: Query(int),
      f: Query(float),
      b: Query(bool),
      u: Query(uuid),
      l: Query(list(int)),
    },
  }, () => "unreachable");
  const { status, body } = await get(
    app,
    "/?n=1.5&f=abc&b=maybe&u=nope&l=1&l=x",
  );
  assert.equal(status, 422);
  assert.deepEqual(body, {
    detail: [
      {
        loc: ["query", "q"],
        msg: "Field required",
        type: "missing",
        input: null,
      },
      {
        loc: ["query", "n"],
        msg:
          "Input should be a valid integer, unable to parse string as an integer",
        type: "int_parsing",
        input: "1.5",
      },
      {
        loc: ["query", "f"],
        msg:
          "Input should be a valid number, unable to parse string as a number",
        type: "float_parsing",
        input: "abc",
      },
      {
        loc: ["query", "b"],
        msg: "Input should be a valid boolean, unable to interpret input",
        type: "bool_parsing",
        input: "maybe",
      },
      {
        loc: ["query", "u"],
        msg: "Input should be a valid UUID",
        type: "uuid_parsing",
        input: "nope",
      },
      {
        loc: ["query", "l"],
        msg:
          "Input should be a valid integer, unable to parse string as an integer",
        type: "list[int]_parsing",
        input: ["1", "x"],
      },
    ],
  });
});

Deno.test("Path(), Header() and Cookie() read their sources", async () => {
  const app = new App();
  app.get("/items/{item_id}", {
    params: {
      itemId: Path(int, { name: "item_id" }),
      userAgent: Header(),
      xAPIKey: Header(),
      custom: Header({ name: "X-Custom" }),
      accept: Header(list(str)),
      session: Cookie(),
      theme: Cookie({ name: "ui-theme", default: "light" }),
    },
  }, (_req, args) => args);
  const { body } = await get(app, "/items/7", {
    headers: {
      "user-agent": "ua",
      "x-api-key": "k",
      "x-custom": "c",
      accept: "a, b",
      cookie: 'session="s=1"',
    },
  });
  assert.deepEqual(body, {
    itemId: 7,
    userAgent: "ua",
    xAPIKey: "k",
    custom: "c",
    accept: ["a", "b"],
    session: "s=1",
    theme: "light",
  });
  const missing = await get(app, "/items/7");
  assert.deepEqual(
    (missing.body as { detail: { loc: string[] }[] }).detail.map((e) =>
      e.loc.join(".")
    ),
    [
      "header.user-agent",
      "header.x-api-key",
      "header.X-Custom",
      "header.accept",
      "cookie.session",
    ],
  );
});

Deno.test("Path() names must exist in the template, checked at registration", () => {
  const app = new App();
  assert.throws(
    () => app.get("/items/{id}", { params: { itemId: Path() } }, () => ""),
    TypeError,
    'Path() parameter "itemId" is not in the path template (it has "id")',
  );
  const nested = Depends({ x: Path() }, ({ x }) => x);
  assert.throws(
    () => app.websocket("/static", { params: { n: nested } }, () => {}),
    TypeError,
    'Path() parameter "x" is not in the path template (it has no parameters)',
  );
  assert.throws(
    () => app.get("/", { params: { q: "nope" as never } }, () => ""),
    TypeError,
    "params.q is not a declaration",
  );
  assert.throws(
    () => app.get("/", { dependencies: [(() => 1) as never] }, () => ""),
    TypeError,
    "dependencies must be Depends() or Security() declarations",
  );
  assert.throws(() => Query(42 as never), TypeError, "expected a converter");
});

Deno.test("A dependency cycle is reported at registration", () => {
  const params: Record<string, ReturnType<typeof Depends>> = {};
  const a = Depends(params, () => 1);
  params.self = a; // only possible by mutating a params object afterwards
  assert.throws(
    () => new App().get("/", { params: { a } }, () => ""),
    TypeError,
    "dependency cycle",
  );
});

Deno.test("Standard Schema validators work as params: zod, valibot, and hand-made", async () => {
  const even: StandardSchemaV1<unknown, number> = {
    "~standard": {
      version: 1,
      vendor: "test",
      validate: (value) => {
        const n = Number(value);
        return n % 2 === 0
          ? { value: n }
          : { issues: [{ message: "Expected an even number" }] };
      },
    },
  };
  const app = new App();
  app.get("/", {
    params: {
      limit: Query(z.coerce.number().int().max(100)),
      name: Query(v.pipe(v.string(), v.minLength(3))),
      even: Query(even),
    },
  }, (_req, args) => args);
  assert.deepEqual((await get(app, "/?limit=10&name=abc&even=4")).body, {
    limit: 10,
    name: "abc",
    even: 4,
  });
  const bad = await get(app, "/?limit=1000&name=ab&even=3");
  assert.equal(bad.status, 422);
  const detail =
    (bad.body as { detail: { loc: string[]; msg: string; type: string }[] })
      .detail;
  assert.deepEqual(detail.map((e) => e.loc.join(".")), [
    "query.limit",
    "query.name",
    "query.even",
  ]);
  assert.match(detail[0].msg, /100/);
  assert.match(detail[1].msg, /Invalid length/);
  assert.equal(detail[2].msg, "Expected an even number");
  assert.ok(detail.every((e) => e.type === "value_error"));
});

Deno.test("A missing WebSocket param refuses the handshake with 1008 and a reason that names it", async () => {
  const app = new App();
  app.websocket(
    "/ws",
    { params: { token: Query(), n: Query(int) } },
    async (ws) => {
      await ws.accept();
    },
  );
  const error = await new TestClient(app).websocketConnect("/ws?n=x").catch((
    e,
  ) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1008);
  assert.equal(error.reason, "query.token: Field required (+1 more)");
});

Deno.test("Depends() caches per connection unless useCache is false", async () => {
  let calls = 0;
  function counter(): number {
    return ++calls;
  }
  const twice = Depends(
    { a: Depends(counter), b: Depends(counter) },
    ({ a, b }) => [a, b],
  );
  const fresh = Depends({
    a: Depends(counter, { useCache: false }),
    b: Depends(counter, { useCache: false }),
  }, ({ a, b }) => [a, b]);
  const app = new App();
  app.get(
    "/cached",
    { params: { pair: twice, again: Depends(counter) } },
    (_req, args) => args,
  );
  app.get("/fresh", { params: { pair: fresh } }, (_req, args) => args);
  assert.deepEqual((await get(app, "/cached")).body, {
    pair: [1, 1],
    again: 1,
  });
  assert.deepEqual(
    (await get(app, "/cached")).body,
    { pair: [2, 2], again: 2 },
    "a new request starts empty",
  );
  assert.deepEqual((await get(app, "/fresh")).body, { pair: [3, 4] });
});

Deno.test("Dependencies may be sync, async, generators and async generators", async () => {
  const events: string[] = [];
  const app = new App();
  app.get("/", {
    params: {
      a: Depends(() => "sync"),
      b: Depends(async () => {
        await Promise.resolve();
        return "async";
      }),
      c: Depends(function* () {
        events.push("c up");
        yield "generator";
        events.push("c down");
      }),
      d: Depends(async function* () {
        events.push("d up");
        yield "async generator";
        events.push("d down");
      }),
    },
  }, (_req, args) => {
    events.push("handler");
    return args;
  });
  assert.deepEqual((await get(app, "/")).body, {
    a: "sync",
    b: "async",
    c: "generator",
    d: "async generator",
  });
  assert.deepEqual(events, ["c up", "d up", "handler", "d down", "c down"]);
});

function tracked(events: string[]) {
  const outer = Depends(async function* outerResource() {
    events.push("outer up");
    try {
      yield "outer";
    } catch (error) {
      events.push(`outer saw ${(error as Error).constructor.name}`);
      throw error;
    } finally {
      events.push("outer down");
    }
  });
  const inner = Depends({ outer }, async function* innerResource({ outer }) {
    events.push("inner up");
    try {
      yield `inner(${outer})`;
    } finally {
      events.push("inner down");
    }
  });
  return inner;
}

Deno.test("Cleanup runs in reverse order after a normal end", async () => {
  const events: string[] = [];
  const app = new App();
  app.websocket(
    "/ws",
    { params: { r: tracked(events) } },
    async (ws, { r }) => {
      await ws.accept();
      await ws.sendText(r);
      events.push("handler end");
    },
  );
  const session = await new TestClient(app).websocketConnect("/ws");
  assert.equal(await session.receiveText(), "inner(outer)");
  await session.close();
  assert.deepEqual(events, [
    "outer up",
    "inner up",
    "handler end",
    "inner down",
    "outer down",
  ]);
});

Deno.test("Cleanup runs after a handler error, which it sees, before the 1011 close", async () => {
  const events: string[] = [];
  const logger = captureLogger();
  const app = new App({ logger });
  app.websocket("/ws", { params: { r: tracked(events) } }, async (ws) => {
    await ws.accept();
    throw new RangeError("handler failed");
  });
  const session = await new TestClient(app, { raiseServerExceptions: false })
    .websocketConnect("/ws");
  const error = await session.receiveText().catch((e) => e);
  assert.equal(error.code, 1011);
  await session.close();
  assert.deepEqual(events, [
    "outer up",
    "inner up",
    "inner down",
    "outer saw RangeError",
    "outer down",
  ]);
  assert.equal(
    logger.errors.length,
    1,
    "the handler's error, once; rethrowing it in cleanup is no new error",
  );
});

Deno.test("Cleanup runs when the client disconnects", async () => {
  const events: string[] = [];
  const app = new App();
  app.websocket("/ws", { params: { r: tracked(events) } }, async (ws) => {
    await ws.accept();
    await ws.receiveText(); // the disconnect escapes: a normal end
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  await session.close(4000);
  assert.deepEqual(events, [
    "outer up",
    "inner up",
    "inner down",
    "outer down",
  ], "a disconnect is a normal end: no error is thrown into the generators");
});

Deno.test("An error in cleanup is logged and does not mask the handler's error", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  const faulty = Depends(function* faultyCleanup() {
    try {
      yield 1;
    } finally {
      // deno-lint-ignore no-unsafe-finally
      throw new Error("cleanup broke");
    }
  });
  app.websocket("/ws", { params: { f: faulty } }, async (ws) => {
    await ws.accept();
    throw new WebSocketException(4001, "handler's own close");
  });
  const session = await new TestClient(app, { raiseServerExceptions: false })
    .websocketConnect("/ws");
  const error = await session.receiveText().catch((e) => e);
  assert.equal(error.code, 4001);
  assert.equal(error.reason, "handler's own close");
  await session.close();
  assert.equal(logger.errors.length, 1);
  assert.match(
    String(logger.errors[0][0]),
    /cleanup of dependency "faultyCleanup" for "\/ws"/,
  );
  assert.equal((logger.errors[0][1] as Error).message, "cleanup broke");
});

Deno.test("A generator dependency must yield exactly once", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.get(
    "/none",
    { params: { x: Depends(function* noYield() {}) } },
    () => "",
  );
  app.get("/twice", {
    params: {
      x: Depends(function* yieldsTwice() {
        yield 1;
        yield 2;
      }),
    },
  }, () => "ok");
  const client = new TestClient(app, { raiseServerExceptions: false });
  const none = await client.get("/none");
  assert.equal(none.status, 500);
  await none.body?.cancel();
  assert.match(
    (logger.errors[0][1] as Error).message,
    /returned without yielding/,
  );
  const twice = await client.get("/twice");
  assert.equal(await twice.text(), "ok");
  assert.match(
    (logger.errors[1][1] as Error).message,
    /"yieldsTwice" yielded more than once/,
  );
});

Deno.test("A dependency whose params fail is not called; its siblings are, and all errors are reported", async () => {
  const called: string[] = [];
  const failing = Depends({ n: Query(int) }, function failing() {
    called.push("failing");
  });
  const sibling = Depends(function sibling() {
    called.push("sibling");
  });
  const app = new App();
  app.get(
    "/",
    { params: { failing, sibling, m: Query(int) } },
    () => "unreachable",
  );
  const { status, body } = await get(app, "/?n=x");
  assert.equal(status, 422);
  assert.deepEqual(called, ["sibling"]);
  assert.deepEqual(
    (body as { detail: { loc: string[] }[] }).detail.map((e) =>
      e.loc.join(".")
    ),
    ["query.n", "query.m"],
  );
});

Deno.test("App, include, router and route dependencies run in that order, then params", async () => {
  const order: string[] = [];
  const mark = (name: string) =>
    Depends(() => void order.push(name), { useCache: false });
  const app = new App({ dependencies: [mark("app")] });
  const router = new Router({ dependencies: [mark("router")] });
  router.get("/x", {
    dependencies: [mark("route")],
    params: { p: Depends(() => void order.push("param")) },
  }, () => "x");
  app.include(router, { prefix: "/r", dependencies: [mark("include")] });
  app.get("/direct", { dependencies: [mark("route")] }, () => "direct");
  await (await new TestClient(app).get("/r/x")).text();
  assert.deepEqual(order, ["app", "include", "router", "route", "param"]);
  order.length = 0;
  await (await new TestClient(app).get("/direct")).text();
  assert.deepEqual(order, ["app", "route"]);
});

Deno.test("dependencyOverrides replace nested dependencies, set after registration", async () => {
  function database(): string {
    return "real db";
  }
  const db = Depends(database);
  const repo = Depends({ db }, ({ db }) => `repo on ${db}`);
  const app = new App();
  app.websocket("/ws", { params: { repo } }, async (ws, { repo }) => {
    await ws.accept();
    await ws.sendText(repo);
  });
  const client = new TestClient(app);
  {
    await using ws = await client.websocketConnect("/ws");
    assert.equal(await ws.receiveText(), "repo on real db");
  }
  app.dependencyOverrides.set(database, () => "fake db");
  {
    await using ws = await client.websocketConnect("/ws");
    assert.equal(await ws.receiveText(), "repo on fake db");
  }
  // A Dependency as the replacement: its own params are resolved.
  app.dependencyOverrides.set(
    db,
    Depends({ name: Query() }, ({ name }) => `db ${name}`),
  );
  {
    await using ws = await client.websocketConnect("/ws?name=test");
    assert.equal(await ws.receiveText(), "repo on db test");
  }
  app.dependencyOverrides.clear();
  {
    await using ws = await client.websocketConnect("/ws");
    assert.equal(await ws.receiveText(), "repo on real db");
  }
});

Deno.test("Security() scopes add up along the chain and key the cache", async () => {
  const seen: string[][] = [];
  const user = Depends({ scopes: SecurityScopes() }, ({ scopes }) => {
    seen.push(scopes);
    return scopes.join("+");
  });
  const reader = Security(
    Depends({ u: Security(user, { scopes: ["read"] }) }, ({ u }) => u),
    {
      scopes: ["api"],
    },
  );
  const app = new App();
  app.get("/", {
    params: {
      a: reader,
      b: Security(user, { scopes: ["write"] }),
      c: Security(user, { scopes: ["write"] }),
    },
  }, (_req, args) => args);
  assert.deepEqual((await get(app, "/")).body, {
    a: "api+read",
    b: "write",
    c: "write",
  });
  assert.deepEqual(
    seen,
    [["api", "read"], ["write"]],
    "same scopes: cached; other scopes: run again",
  );
});

Deno.test("An HTTPException in a WebSocket dependency before accept is the denial response", async () => {
  const app = new App();
  const auth = Depends({ token: Query({ optional: true }) }, ({ token }) => {
    if (token !== "ok") {
      throw new HTTPException(401, "bad token", {
        "www-authenticate": "Bearer",
      });
    }
    return token;
  });
  let reached = false;
  app.websocket("/ws", { params: { auth } }, async (ws) => {
    reached = true;
    await ws.accept();
  });
  const error = await new TestClient(app).websocketConnect("/ws?token=no")
    .catch((e) => e);
  assert.ok(error instanceof WebSocketDenialResponse);
  assert.equal(error.response.status, 401);
  assert.equal(error.response.headers.get("www-authenticate"), "Bearer");
  assert.deepEqual(await error.response.json(), { detail: "bad token" });
  assert.equal(
    reached,
    false,
    "an unauthenticated client never reaches the handler",
  );
});

Deno.test("WebSocket.receiveJson(schema) rejects one bad message and the connection goes on", async () => {
  const Message = z.object({ text: z.string().min(1) });
  const app = new App();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    while (true) {
      try {
        const message = await ws.receiveJson(Message);
        await ws.sendJson({ echo: message.text });
      } catch (error) {
        if (error instanceof WebSocketDisconnect) return;
        if (!(error instanceof WebSocketRequestValidationError)) throw error;
        await ws.sendJson({ error: error.reason });
      }
    }
  });
  await using ws = await new TestClient(app).websocketConnect("/ws");
  await ws.sendJson({ text: "" });
  const reply = await ws.receiveJson() as { error: string };
  assert.match(reply.error, /^body\.text: /);
  await ws.sendJson({ text: "hi" });
  assert.deepEqual(await ws.receiveJson(), { echo: "hi" });
});

Deno.test("WebSocket.iterJson(schema) yields validated messages and throws on a bad one", async () => {
  const seen = Promise.withResolvers<unknown[]>();
  const app = new App({ logger: captureLogger() });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    const got: unknown[] = [];
    try {
      for await (const n of ws.iterJson(v.number())) got.push(n);
    } catch (error) {
      got.push((error as WebSocketRequestValidationError).code);
    }
    seen.resolve(got);
  });
  await using ws = await new TestClient(app).websocketConnect("/ws");
  await ws.sendJson(1);
  await ws.sendJson(2);
  await ws.sendJson("three");
  assert.deepEqual(await seen.promise, [1, 2, 1008]);
});
