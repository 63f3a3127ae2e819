// _session.ts: how a connection ends once its handler has run.
import assert from "node:assert/strict";
import { App, type Logger, WebSocketDisconnect } from "../mod.ts";
import { TestClient } from "../testing.ts";

function capture(): { logger: Logger; lines: unknown[][] } {
  const lines: unknown[][] = [];
  const logger: Logger = {
    error: (...data) => lines.push(["error", ...data]),
    warn: (...data) => lines.push(["warn", ...data]),
  };
  return { logger, lines };
}

Deno.test("a handler that returns while accept() is pending is logged and closed with 1011", async () => {
  const { logger, lines } = capture();
  const app = new App({ logger });
  app.websocket("/ws", (ws) => {
    void ws.accept(); // not awaited
  });
  const client = new TestClient(app, { raiseServerExceptions: false });
  const session = await client.websocketConnect("/ws");
  const error = await session.receiveText().catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1011);
  assert.equal(error.reason, "Internal Server Error");
  await session.close();
  assert.equal(app.connections, 0);
  const logged = lines.find((line) => line[0] === "error");
  assert.ok(logged !== undefined, "the mistake is logged");
  assert.match(String(logged[2]), /did you forget to await ws\.accept\(\)\?/);
  assert.match(String(logged[2]), /"\/ws"/);
});

Deno.test("a handler that throws while accept() is pending names the mistake, with the error as its cause", async () => {
  const app = new App();
  const thrown = new Error("boom");
  app.websocket("/ws", (ws) => {
    void ws.accept();
    throw thrown;
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  const error = await session.close().catch((e) => e);
  assert.ok(error instanceof Error);
  assert.match(error.message, /threw while accept\(\) was still opening/);
  assert.match(error.message, /did you forget to await ws\.accept\(\)\?/);
  assert.equal(error.cause, thrown);
});

Deno.test("a handler that awaits accept() and returns ends normally, with 1000", async () => {
  const { logger, lines } = capture();
  const app = new App({ logger });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
  });
  const session = await new TestClient(app).websocketConnect("/ws");
  const error = await session.receiveText().catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1000);
  await session.close();
  assert.deepEqual(lines, []);
});

Deno.test("a logger with info gets one line per refused handshake and per ended session", async () => {
  const lines: string[] = [];
  const app = new App({
    logger: {
      error: () => {},
      warn: () => {},
      info: (line) => lines.push(String(line)),
    },
  });
  app.websocket("/rooms/{room}", async (ws) => {
    if (ws.pathParams.room === "closed") {
      await ws.close(4003, "no entry");
      return;
    }
    await ws.accept();
    await ws.receiveText().catch(() => {});
    await ws.close(4000, "bye");
  });
  const client = new TestClient(app);
  await assert.rejects(client.websocketConnect("/missing"));
  await assert.rejects(client.websocketConnect("/rooms/closed"));
  const session = await client.websocketConnect("/rooms/lobby");
  await session.sendText("leaving");
  const error = await session.receiveText().catch((e) => e);
  assert.equal(error.code, 4000);
  await session.close();
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.equal(
    lines[0],
    'WebSocket handshake refused: no route matches "/missing": 403 (close 1000)',
  );
  assert.equal(
    lines[1],
    'WebSocket handshake refused: "/rooms/{room}" ("/rooms/closed"): 403 (close 4003 "no entry")',
  );
  assert.match(
    lines[2],
    /^WebSocket session ended: "\/rooms\/\{room\}" \("\/rooms\/lobby"\) code 4000 "bye" after \d+ ms$/,
  );
});

Deno.test("a refused origin and a denial response are logged with their status", async () => {
  const lines: string[] = [];
  const app = new App({
    logger: {
      error: () => {},
      warn: () => {},
      info: (line) => lines.push(String(line)),
    },
  });
  app.websocket("/ws", async (ws) => {
    await ws.sendDenialResponse(new Response("no", { status: 401 }));
  });
  const client = new TestClient(app);
  await assert.rejects(
    client.websocketConnect("/ws", {
      headers: { origin: "https://evil.example" },
    }),
  );
  await assert.rejects(client.websocketConnect("/ws"));
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[0], /^WebSocket handshake refused: "\/ws": 403 \(Origin /);
  assert.equal(
    lines[1],
    'WebSocket handshake refused: "/ws": 401 (denial response)',
  );
});
