import assert from "node:assert/strict";
import {
  App,
  HTTPException,
  NoMatchFound,
  WebSocketDisconnect,
} from "../mod.ts";
import { TestClient } from "../testing.ts";

Deno.test("App.fetch is an own property, as deno serve requires", () => {
  const app = new App();
  assert.ok(Object.hasOwn(app, "fetch"));
  assert.equal(typeof app.fetch, "function");
});

Deno.test("App rejects invalid limits with a RangeError", () => {
  assert.throws(
    () => new App({ maxMessageSize: 0 }),
    RangeError,
    "maxMessageSize must be a positive integer",
  );
  assert.throws(
    () => new App({ maxQueuedMessages: 1.5 }),
    RangeError,
    "maxQueuedMessages",
  );
  assert.throws(
    () => new App({ maxQueuedBytes: -1 }),
    RangeError,
    "maxQueuedBytes must be a positive integer",
  );
  assert.throws(() => new App({ idleTimeout: -1 }), RangeError, "idleTimeout");
});

Deno.test("App HTTP handlers return a Response, text or JSON", async () => {
  const app = new App();
  app.get("/text", () => "hi");
  app.get("/json", () => ({ a: 1 }));
  app.get("/response", () => new Response("raw", { status: 201 }));
  app.post("/none", () => undefined);
  app.get("/teapot", () => {
    throw new HTTPException(418, "short and stout");
  });
  const client = new TestClient(app);
  const text = await client.get("/text");
  assert.equal(text.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await text.text(), "hi");
  assert.deepEqual(await (await client.get("/json")).json(), { a: 1 });
  const raw = await client.get("/response");
  assert.equal(raw.status, 201);
  assert.equal(await raw.text(), "raw");
  assert.equal((await client.post("/none")).status, 204);
  const teapot = await client.get("/teapot");
  assert.equal(teapot.status, 418);
  assert.deepEqual(await teapot.json(), { detail: "short and stout" });
});

Deno.test("App answers 404, 405 with Allow, and 426 for a WebSocket-only path", async () => {
  const app = new App();
  app.get("/page", () => "page");
  app.post("/page", () => "posted");
  app.websocket("/ws", async (ws) => await ws.accept());
  const client = new TestClient(app);
  const missing = await client.get("/nope");
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { detail: "Not Found" });
  const wrong = await client.delete("/page");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, HEAD, POST");
  await wrong.body?.cancel();
  const plain = await client.get("/ws");
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.get("upgrade"), "websocket");
  assert.deepEqual(await plain.json(), { detail: "Upgrade Required" });
});

Deno.test("App answers HEAD from the GET route without a body", async () => {
  const app = new App();
  app.get("/page", () => "page body");
  const response = await new TestClient(app).fetch("/page", { method: "HEAD" });
  assert.equal(response.status, 200);
  assert.equal(response.body, null);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
});

Deno.test("App converts path parameters and treats a bad value as no match", async () => {
  const app = new App();
  app.websocket(
    "/items/{id:int}/{ratio:float}/{key:uuid}/{rest:path}",
    async (ws) => {
      await ws.accept();
      await ws.sendJson(ws.pathParams);
      await ws.close();
    },
  );
  const client = new TestClient(app);
  await using ws = await client.websocketConnect(
    "/items/42/2.5/0A1B2C3D4E5F60718293A4B5C6D7E8F9/a/b%20c",
  );
  assert.deepEqual(await ws.receiveJson(), {
    id: 42,
    ratio: 2.5,
    key: "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
    rest: "a/b c",
  });
  const error = await client.websocketConnect("/items/abc/2.5/x/y").catch((e) =>
    e
  );
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1000);
});

Deno.test("App matches routes in registration order, static paths included", async () => {
  const app = new App();
  app.get("/users/{name}", () => "by name");
  app.get("/users/me", () => "me (shadowed)");
  app.get("/teams/mine", () => "mine");
  app.get("/teams/{name}", () => "team by name");
  const client = new TestClient(app);
  assert.equal(await (await client.get("/users/me")).text(), "by name");
  assert.equal(await (await client.get("/teams/mine")).text(), "mine");
  assert.equal(await (await client.get("/teams/red")).text(), "team by name");
});

Deno.test("App rejects bad path templates at registration", () => {
  const app = new App();
  const handler = () => {};
  assert.throws(
    () => app.websocket("/a/{id:number}", handler),
    TypeError,
    'unknown path converter "number" for "id"',
  );
  assert.throws(
    () => app.websocket("/a/{id}/{id}", handler),
    TypeError,
    'duplicate parameter name "id"',
  );
  assert.throws(
    () => app.websocket("/a/{id", handler),
    TypeError,
    'unmatched "{"',
  );
  assert.throws(
    () => app.websocket("/a/id}", handler),
    TypeError,
    'unmatched "}"',
  );
  assert.throws(
    () => app.websocket("/a/{my-id}", handler),
    TypeError,
    "is not an identifier",
  );
  assert.throws(
    () => app.websocket("a", handler),
    TypeError,
    'must start with "/"',
  );
  assert.throws(
    () => app.websocket("/a", undefined as never),
    TypeError,
    "handler must be a function",
  );
});

Deno.test("App.urlPathFor() and urlFor() reverse named routes", () => {
  const app = new App();
  app.websocket(
    "/rooms/{room}/ws",
    { name: "room" },
    async (ws) => await ws.accept(),
  );
  app.get("/items/{id:int}", async function item() {});
  assert.equal(app.urlPathFor("room", { room: "a b?" }), "/rooms/a%20b%3F/ws");
  assert.throws(
    () => app.urlPathFor("room", { room: "a/b" }),
    TypeError,
    "without '/'",
  );
  assert.equal(app.urlPathFor("item", { id: 3 }), "/items/3");
  assert.equal(
    app.urlFor("room", { room: "x" }, "http://example.org/").href,
    "ws://example.org/rooms/x/ws",
  );
  assert.equal(
    app.urlFor("item", { id: 3 }, "wss://example.org/").href,
    "https://example.org/items/3",
  );
  assert.throws(
    () => app.urlPathFor("nope"),
    NoMatchFound,
    'No route exists for name "nope" and params ""',
  );
  assert.throws(
    () => app.urlPathFor("item", { id: 1, extra: 2 }),
    NoMatchFound,
    'params "id, extra"',
  );
  assert.throws(
    () => app.urlPathFor("item", { id: -1 }),
    TypeError,
    "expected a non-negative integer",
  );
});

Deno.test("App.connections counts the connections being served", async () => {
  const app = new App();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    for await (const _ of ws.iterText()) { /* drain */ }
  });
  const client = new TestClient(app);
  const a = await client.websocketConnect("/ws");
  const b = await client.websocketConnect("/ws");
  assert.equal(app.connections, 2);
  await a.close();
  assert.equal(app.connections, 1);
  await b.close();
  assert.equal(app.connections, 0);
});

Deno.test("App answers a malformed upgrade request with 400, another version with 426", async () => {
  const app = new App();
  let calls = 0;
  app.websocket("/ws", async (ws) => {
    calls++;
    await ws.accept();
  });
  const client = new TestClient(app);
  const base = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  const noKey = await client.get("/ws", {
    headers: { ...base, "sec-websocket-key": "" },
  });
  assert.equal(noKey.status, 400);
  assert.match((await noKey.json()).detail, /Sec-WebSocket-Key/);
  const noConnection = await client.get("/ws", {
    headers: { ...base, connection: "keep-alive" },
  });
  assert.equal(noConnection.status, 400);
  await noConnection.body?.cancel();
  const oldVersion = await client.get("/ws", {
    headers: { ...base, "sec-websocket-version": "8" },
  });
  assert.equal(oldVersion.status, 426);
  assert.equal(oldVersion.headers.get("sec-websocket-version"), "13");
  await oldVersion.body?.cancel();
  assert.equal(calls, 0, "the handler never ran");
});

// Deno keeps an upgraded request as long as its socket: the headers the
// connection keeps must not be a copy inside that request. Its own headers,
// never read in full, throw once the upgrade has closed it.
for (const readFirst of [false, true]) {
  Deno.test(
    `App keeps a WebSocket's headers outside the upgraded request${
      readFirst ? ", also when the request's headers were read before" : ""
    }`,
    async () => {
      const upgraded: Request[] = [];
      const app = new App({
        upgrade(request, options) {
          upgraded.push(request);
          return Deno.upgradeWebSocket(request, options);
        },
      });
      app.websocket("/ws", async (ws) => {
        await ws.accept();
        await ws.sendJson(ws.headers.get("x-token"));
        await ws.close();
      });
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        (request, info) => {
          // What a wrapper around app.fetch may do (a log line, say).
          if (readFirst) request.headers.get("x-token");
          return app.fetch(request, info);
        },
      );
      try {
        const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws`, {
          headers: { "x-token": "t0k" },
        });
        const received = await new Promise((resolve, reject) => {
          socket.onmessage = (event) => resolve(JSON.parse(event.data));
          socket.onerror = () => reject(new Error("socket failed"));
        });
        await new Promise((resolve) => socket.onclose = resolve);
        assert.equal(received, "t0k");
        assert.equal(upgraded.length, 1);
        assert.throws(
          () => upgraded[0].headers.has("x-token"),
          TypeError,
          "the request must hold no copy of its headers",
        );
      } finally {
        await server.shutdown();
      }
    },
  );
}
