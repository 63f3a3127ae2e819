// app.observe(): what observers and the access log learn of handshakes and
// sessions.
import assert from "node:assert/strict";
import {
  App,
  type HandshakeInfo,
  HTTPException,
  type SessionInfo,
} from "../mod.ts";
import { TestClient } from "../testing.ts";
import { captureLogger } from "./_transports.ts";

function observedApp(): {
  app: App;
  handshakes: HandshakeInfo[];
  sessions: SessionInfo[];
  messages: string[];
} {
  const handshakes: HandshakeInfo[] = [];
  const sessions: SessionInfo[] = [];
  const messages: string[] = [];
  const app = new App({ logger: captureLogger(), maxConnections: 5 });
  app.observe({
    handshake: (_conn, info) => handshakes.push(info),
    accepted: (_ws, route) => ({
      received: (bytes) => messages.push(`${route} in ${bytes}`),
      sent: (bytes) => messages.push(`${route} out ${bytes}`),
      closed: (info) => sessions.push(info),
    }),
  });
  app.use((conn) => {
    if (conn.queryParams.has("deny")) {
      return new Response("denied", { status: 401 });
    }
  });
  app.websocket("/echo", async (ws) => {
    await ws.accept();
    for await (const text of ws.iterText()) await ws.sendText(text + "!");
  });
  app.websocket("/refuse", (ws) => ws.close(4001, "not today"));
  app.websocket("/http-error", () => {
    throw new HTTPException(409, "conflict");
  });
  app.websocket("/bug", () => {
    throw new Error("bug");
  });
  return { app, handshakes, sessions, messages };
}

Deno.test("App.observe() is told every handshake's outcome, status and close", async () => {
  const { app, handshakes } = observedApp();
  const client = new TestClient(app, { raiseServerExceptions: false });
  const ws = await client.websocketConnect("/echo");
  await ws.close();
  for (
    const path of ["/refuse", "/http-error", "/bug", "/echo?deny", "/none"]
  ) {
    await client.websocketConnect(path).catch(() => {});
  }
  await app.shutdown();
  assert.deepEqual(
    handshakes.map(({ route, path, status, outcome, close }) => ({
      route,
      path,
      status,
      outcome,
      close,
    })),
    [
      {
        route: "/echo",
        path: "/echo",
        status: 101,
        outcome: "accepted",
        close: undefined,
      },
      {
        route: "/refuse",
        path: "/refuse",
        status: 403,
        outcome: "refused",
        close: { code: 4001, reason: "not today" },
      },
      {
        route: "/http-error",
        path: "/http-error",
        status: 409,
        outcome: "denied",
        close: undefined,
      },
      {
        route: "/bug",
        path: "/bug",
        status: 500,
        outcome: "error",
        close: undefined,
      },
      {
        route: null,
        path: "/echo",
        status: 401,
        outcome: "denied",
        close: undefined,
      },
      {
        route: null,
        path: "/none",
        status: 403,
        outcome: "refused",
        close: undefined,
      },
    ],
  );
  assert.ok(handshakes.every((h) => h.durationMs >= 0));
});

Deno.test("App.observe() sessions count messages and bytes each way and get the close code", async () => {
  const { app, sessions, messages } = observedApp();
  const ws = await new TestClient(app).websocketConnect("/echo");
  await ws.sendText("hé"); // 3 bytes in, "hé!" 4 bytes out
  assert.equal(await ws.receiveText(), "hé!");
  await ws.close(4000, "done");
  await app.shutdown();
  assert.deepEqual(messages, ["/echo in 3", "/echo out 4"]);
  assert.equal(sessions.length, 1);
  const [info] = sessions;
  assert.equal(info.route, "/echo");
  assert.equal(info.code, 4000);
  assert.equal(info.reason, "done");
  assert.equal(info.messagesReceived, 1);
  assert.equal(info.bytesReceived, 3);
  assert.equal(info.messagesSent, 1);
  assert.equal(info.bytesSent, 4);
  assert.ok(info.durationMs >= 0);
});

Deno.test("App.observe() returns a function that stops the observer", async () => {
  const seen: string[] = [];
  const app = new App();
  const stop = app.observe({
    handshake: (_conn, info) => seen.push(info.path),
  });
  app.websocket("/ws", (ws) => ws.close());
  const client = new TestClient(app);
  await client.websocketConnect("/ws").catch(() => {});
  stop();
  await client.websocketConnect("/ws").catch(() => {});
  assert.deepEqual(seen, ["/ws"]);
});

Deno.test("An observer that throws is logged, and the connection goes on", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.observe({
    accepted: () => {
      throw new Error("observer bug");
    },
  });
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.sendText("fine");
  });
  await using ws = await new TestClient(app).websocketConnect("/ws");
  assert.equal(await ws.receiveText(), "fine");
  assert.match(String(logger.errors[0][0]), /connection observer/);
});

Deno.test("A logger with info gets a line for every refused handshake and every ended session", async () => {
  const lines: string[] = [];
  const logger = {
    ...captureLogger(),
    info: (line: unknown) => lines.push(String(line)),
  };
  const app = new App({ logger, maxConnectionsPerClient: 1 });
  app.websocket("/ws/{room}", async (ws) => {
    await ws.accept();
    for await (const text of ws.iterText()) await ws.sendText(text);
  });
  app.websocket("/no", (ws) => ws.close(4003, "private"));
  const client = new TestClient(app);
  const ws = await client.websocketConnect("/ws/a");
  await client.websocketConnect("/ws/b").catch(() => {}); // over the cap
  await ws.sendText("abc");
  await ws.receiveText();
  await ws.close(1000);
  await client.websocketConnect("/no").catch(() => {});
  await app.shutdown();
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.equal(
    lines[0],
    'WebSocket handshake refused: "/ws/{room}" ("/ws/b"): 429 (too many connections from this client)',
  );
  assert.match(
    lines[1],
    /^WebSocket session ended: "\/ws\/\{room\}" \("\/ws\/a"\) code 1000 after \d+ ms, in 1 message \(3 B\), out 1 message \(3 B\)$/,
  );
  assert.equal(
    lines[2],
    'WebSocket handshake refused: "/no": 403 (close 4003 "private")',
  );
});

Deno.test("A handshake that middleware answers gets its access log line", async () => {
  const lines: string[] = [];
  const logger = {
    ...captureLogger(),
    info: (line: unknown) => lines.push(String(line)),
  };
  const app = new App({ logger });
  app.use((conn) => {
    if (conn.headers.get("x-key") !== "k") {
      return new Response("no key", { status: 401 });
    }
  });
  app.websocket("/ws", {
    middleware: [(conn) => {
      if (conn.queryParams.has("deny")) {
        return new Response(null, { status: 451 });
      }
    }],
  }, (ws) => ws.accept());
  const client = new TestClient(app);
  await client.websocketConnect("/ws").catch(() => {});
  await client.websocketConnect("/ws?deny", { headers: { "x-key": "k" } })
    .catch(() => {});
  assert.deepEqual(lines, [
    'WebSocket handshake refused: "/ws": 401 (denied by middleware)',
    'WebSocket handshake refused: "/ws": 451 (denied by middleware)',
  ]);
});

Deno.test("App.observe() added while connections are open keeps counting them against the limits", async () => {
  const app = new App({ logger: captureLogger() });
  app.websocket("/ws", { maxConnections: 1 }, async (ws) => {
    await ws.accept();
    await ws.receiveText().catch(() => {});
  });
  const client = new TestClient(app);
  const first = await client.websocketConnect("/ws");
  const closes: number[] = [];
  app.observe({
    accepted: () => ({ closed: (info) => closes.push(info.code) }),
  });
  const refused = await client.websocketConnect("/ws").catch((e) => e);
  assert.equal(refused.response.status, 503);
  await first.close();
  await until(() => app.connections === 0);
  const second = await client.websocketConnect("/ws");
  await second.close(4000);
  await until(() => closes.length === 1);
  assert.deepEqual(closes, [4000]);
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
