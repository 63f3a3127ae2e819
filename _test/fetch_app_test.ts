// TestClient with an app-like object whose fetch hands requests on to a
// wsapi App: Hono, and a hand-written router.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { App, WebSocketDisconnect } from "../mod.ts";
import { type FetchApp, TestClient } from "../testing.ts";

function wsapiApp(): App {
  const app = new App();
  app.websocket("/ws/{room}", async (ws) => {
    await ws.accept();
    for await (const text of ws.iterText()) {
      await ws.sendText(
        `${ws.pathParams.room}@${ws.client?.hostname}: ${text}`,
      );
    }
  });
  app.websocket("/private", async (ws) => {
    await ws.close(4001, "no entry");
  });
  return app;
}

Deno.test("TestClient serves a Hono app that delegates WebSockets to a wsapi App", async () => {
  const wsapi = wsapiApp();
  const hono = new Hono<{ Bindings: Deno.ServeHandlerInfo }>();
  hono.use(async (c, next) => {
    await next();
    c.header("x-served-by", "hono");
  });
  hono.get("/", (c) => c.text("home"));
  hono.all("/ws/*", (c) => wsapi.fetch(c.req.raw, c.env));
  hono.all("/private", (c) => wsapi.fetch(c.req.raw, c.env));

  const client = new TestClient(hono);
  const home = await client.get("/");
  assert.equal(await home.text(), "home");
  assert.equal(home.headers.get("x-served-by"), "hono");
  {
    await using ws = await client.websocketConnect("/ws/lobby");
    await ws.sendText("hi");
    assert.equal(await ws.receiveText(), "lobby@testclient: hi");
    assert.equal(wsapi.connections, 1);
  }
  assert.equal(wsapi.connections, 0);
  const refused = await client.websocketConnect("/private").catch((e) => e);
  assert.ok(refused instanceof WebSocketDisconnect);
  assert.equal(refused.code, 4001);
  assert.equal(refused.reason, "no entry");
});

Deno.test("TestClient serves a hand-written fetch router that delegates to a wsapi App", async () => {
  const wsapi = wsapiApp();
  const router: FetchApp = {
    fetch(request, info) {
      return new URL(request.url).pathname.startsWith("/ws/")
        ? wsapi.fetch(request, info)
        : new Response("not here", { status: 404 });
    },
  };
  await using ws = await new TestClient(router).websocketConnect("/ws/a");
  await ws.sendText("x");
  assert.equal(await ws.receiveText(), "a@testclient: x");
});

Deno.test("TestClient says how to delegate when an app-like object drops fetch's info", async () => {
  const wsapi = wsapiApp();
  const hono = new Hono<{ Bindings: Deno.ServeHandlerInfo }>();
  hono.all("/ws/*", (c) => wsapi.fetch(c.req.raw)); // info not passed on
  const error = await new TestClient(hono).websocketConnect("/ws/a").catch((
    e,
  ) => e);
  assert.ok(error instanceof Error);
  assert.match(
    error.message,
    /^Cannot connect to "\/ws\/a": the app given to TestClient answered \d+ without handing the request to a wsapi App with the info it was called with: delegate with app\.fetch\(request, info\)/,
  );
});

Deno.test("TestClient refuses what is not an app, naming it", () => {
  for (
    const [value, got] of [
      [{}, "an Object without a fetch method"],
      [{ fetch: "no" }, "an Object without a fetch method"],
      [null, "null"],
      [42, "number"],
      [new Map(), "a Map without a fetch method"],
    ] as const
  ) {
    assert.throws(
      () => new TestClient(value as unknown as FetchApp),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message ===
          `Cannot create TestClient: expected an App or an object with a fetch(request, info) method, got ${got}: pass the App (or the app that delegates to its fetch)`,
    );
  }
});
