// connection.ts: what HTTP requests and WebSockets share.
import assert from "node:assert/strict";
import { App, Depends, HTTPConnection } from "../mod.ts";
import { TestClient } from "../testing.ts";

Deno.test("HTTPConnection reads query, cookies and state from its init", () => {
  const app = new App();
  const conn = new HTTPConnection({
    app,
    url: new URL("http://localhost/items?q=1&q=2"),
    headers: new Headers({ cookie: 'a=1; b="two"' }),
  });
  assert.equal(conn.app, app);
  assert.deepEqual(conn.queryParams.getAll("q"), ["1", "2"]);
  assert.deepEqual(conn.cookies, { a: "1", b: "two" });
  assert.equal(conn.cookies, conn.cookies, "parsed once");
  assert.equal(conn.client, null);
  assert.deepEqual(conn.pathParams, {});
  conn.state.user = "ada";
  assert.equal(conn.state.user, "ada");
});

Deno.test("HTTPConnection of a WebSocket: ws: URL, headers readable after accept, urlFor with ws:", async () => {
  const app = new App();
  app.websocket("/rooms/{room}", { name: "room" }, async (ws) => {
    await ws.accept();
    await ws.sendJson({
      url: ws.url.href,
      agent: ws.headers.get("user-agent"),
      other: ws.urlFor("room", { room: "b" }).href,
    });
  });
  await using session = await new TestClient(app).websocketConnect(
    "/rooms/a?x=1",
  );
  assert.deepEqual(await session.receiveJson(), {
    url: "ws://testserver/rooms/a?x=1",
    agent: "testclient",
    other: "ws://testserver/rooms/b",
  });
});

Deno.test("HTTPConnection is what a dependency gets, for HTTP and WebSocket routes alike", async () => {
  const seen: string[] = [];
  const where = Depends((conn: HTTPConnection) => {
    seen.push(conn.url.protocol);
    return conn.url.pathname;
  });
  const app = new App();
  app.get("/page", { params: { where } }, (_request, args) => args.where);
  app.websocket("/ws", { params: { where } }, async (ws, args) => {
    await ws.accept();
    await ws.sendText(args.where);
  });
  const client = new TestClient(app);
  assert.equal(await (await client.get("/page")).text(), "/page");
  await using session = await client.websocketConnect("/ws");
  assert.equal(await session.receiveText(), "/ws");
  assert.deepEqual(seen, ["http:", "ws:"]);
});
