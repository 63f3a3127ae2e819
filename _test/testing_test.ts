import assert from "node:assert/strict";
import { App, WebSocketDisconnect } from "../mod.ts";
import {
  createSocketPair,
  TestClient,
  WebSocketDenialResponse,
} from "../testing.ts";
import { captureLogger } from "./_transports.ts";

Deno.test("TestClient.websocketConnect() rethrows an error raised before accept", async () => {
  const app = new App({ logger: captureLogger() });
  app.websocket("/ws", () => {
    throw new SyntaxError("bad handler");
  });
  await assert.rejects(
    new TestClient(app).websocketConnect("/ws"),
    SyntaxError,
    "bad handler",
  );
});

Deno.test("WebSocketTestSession rethrows a handler error after accept once, from the next call", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.receiveText();
    throw new RangeError("handler broke");
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  await session.sendText("go");
  await assert.rejects(session.receiveText(), RangeError, "handler broke");
  await session.close(); // already reported: not thrown again
  assert.equal(logger.errors.length, 0, "raised into the test, not logged");
});

Deno.test("WebSocketTestSession.close() throws an unreported handler error", async () => {
  const app = new App();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.receiveText().catch(() => {});
    throw new Error("after the client left");
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  await assert.rejects(session.close(), Error, "after the client left");
});

Deno.test("TestClient with raiseServerExceptions false shows a 500 denial", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.websocket("/ws", () => {
    throw new Error("boom");
  });
  const client = new TestClient(app, { raiseServerExceptions: false });
  const error = await client.websocketConnect("/ws").catch((e) => e);
  assert.ok(error instanceof WebSocketDenialResponse);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1006);
  assert.equal(error.response.status, 500);
  assert.equal(logger.errors.length, 1);
});

Deno.test("WebSocketTestSession.close() waits for the handler to finish", async () => {
  const app = new App();
  const events: string[] = [];
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    try {
      for await (const text of ws.iterText()) events.push(text);
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push("cleanup");
    }
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  await session.sendText("a");
  await session.close();
  assert.deepEqual(events, ["a", "cleanup"]);
  assert.equal(app.connections, 0);
});

Deno.test("WebSocketTestSession.terminate() looks like a vanished client (1006)", async () => {
  const app = new App();
  const seen = Promise.withResolvers<unknown>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    seen.resolve(await ws.receiveText().catch((e) => e));
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  await session.terminate();
  const error = await seen.promise;
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1006);
});

Deno.test("WebSocketTestSession sends after the server closed throw WebSocketDisconnect", async () => {
  const app = new App();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.close(4100, "enough");
  });
  await using session = await new TestClient(app).websocketConnect("/ws");
  await assert.rejects(session.receiveText(), WebSocketDisconnect);
  const error = await session.sendText("late").catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 4100);
});

Deno.test("TestClient.websocketConnect() to an unrouted path is refused with 1000", async () => {
  const app = new App();
  const error = await new TestClient(app).websocketConnect("/nowhere").catch((
    e,
  ) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.ok(!(error instanceof WebSocketDenialResponse));
  assert.equal(error.code, 1000);
});

Deno.test("TestClient.get() rethrows an HTTP handler error, or shows 500 without raising", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.get("/boom", () => {
    throw new TypeError("http broke");
  });
  await assert.rejects(
    new TestClient(app).get("/boom"),
    TypeError,
    "http broke",
  );
  const response = await new TestClient(app, { raiseServerExceptions: false })
    .get("/boom");
  assert.equal(response.status, 500);
  assert.equal(await response.text(), "Internal Server Error");
  assert.equal(logger.errors.length, 1);
});

Deno.test("TestClient rejects what is not an App", () => {
  assert.throws(
    () => new TestClient({} as App),
    TypeError,
    "expected an App instance",
  );
});

Deno.test("createSocketPair() sockets refuse to send before open", () => {
  const [server, client] = createSocketPair();
  assert.throws(
    () => client.send("x"),
    (e: unknown) => e instanceof DOMException && e.name === "InvalidStateError",
  );
  server.close();
});

Deno.test("createSocketPair() counts bufferedAmount until delivery and copies bytes", async () => {
  const [server, client] = createSocketPair();
  await new Promise((resolve) => client.onopen = resolve);
  const received: unknown[] = [];
  server.onmessage = (event) => received.push(event.data);
  const bytes = new Uint8Array([1, 2, 3]);
  client.send(bytes);
  client.send("héllo");
  assert.equal(client.bufferedAmount, 3 + 6);
  bytes[0] = 9; // the sent copy is unaffected
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(client.bufferedAmount, 0);
  assert.deepEqual(
    new Uint8Array(received[0] as ArrayBuffer),
    new Uint8Array([1, 2, 3]),
  );
  assert.equal(received[1], "héllo");
  const closes: [string, number, string, boolean][] = [];
  const both = Promise.all(
    [server, client].map((socket, i) =>
      new Promise<void>((resolve) =>
        socket.addEventListener("close", (event) => {
          const e = event as CloseEvent;
          closes.push([
            i === 0 ? "server" : "client",
            e.code,
            e.reason,
            e.wasClean,
          ]);
          resolve();
        })
      )
    ),
  );
  client.close(4000, "bye");
  assert.equal(client.readyState, 2);
  await both;
  assert.deepEqual(closes, [["server", 4000, "bye", true], [
    "client",
    4000,
    "bye",
    true,
  ]]);
  assert.equal(client.readyState, 3);
});

Deno.test("TestClient.websocketConnect() to a path no route matches says so", async () => {
  const app = new App();
  app.websocket("/ws", async (ws) => await ws.accept());
  const error = await new TestClient(app).websocketConnect("/nope?x=1").catch(
    (e) => e,
  );
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1000);
  assert.match(error.message, /no route matches "\/nope"/);
});
