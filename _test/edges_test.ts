// The edges a hostile client found, over real sockets on 127.0.0.1: a close
// made while Deno's socket is still connecting (shutdown during a slow
// dependency, an accept() not awaited), and path numbers a double cannot
// hold.
import assert from "node:assert/strict";
import { App, Depends, WebSocketDisconnect } from "../mod.ts";
import { TestClient } from "../testing.ts";
import { OPCODE, rawHandshake, readFrames, sendFrame } from "./_raw_client.ts";
import { captureLogger } from "./_transports.ts";

const CRLF2 = "\r\n\r\n";

/**
 * Sends an upgrade request without waiting; `outcome` resolves with the
 * response status and the code of the first close frame after a 101 (null
 * if the connection ended without one), answering that close.
 */
async function upgradeAndAwaitClose(
  port: number,
  path: string,
): Promise<{ status: number; close: number | null }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    // The head and the close frame may come in one read: keep what follows
    // the head for the frame reader.
    let buffered = new Uint8Array(0);
    let headEnd = -1;
    while (headEnd === -1) {
      const chunk = new Uint8Array(16 * 1024);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("Connection closed before the response");
      const next = new Uint8Array(buffered.length + n);
      next.set(buffered);
      next.set(chunk.subarray(0, n), buffered.length);
      buffered = next;
      headEnd = new TextDecoder("latin1").decode(buffered).indexOf(CRLF2);
    }
    const head = new TextDecoder().decode(buffered.subarray(0, headEnd));
    const status = Number(head.split(" ")[1]);
    if (status !== 101) return { status, close: null };
    for await (
      const frame of readFrames(conn, buffered.subarray(headEnd + 4))
    ) {
      if (frame.opcode !== OPCODE.close) continue;
      const code = new DataView(
        frame.payload.buffer,
        frame.payload.byteOffset,
      ).getUint16(0);
      // Echoed as received, as RFC 6455 §5.5.1 suggests.
      await sendFrame(conn, OPCODE.close, frame.payload);
      return { status, close: code };
    }
    return { status, close: null };
  } finally {
    conn.close();
  }
}

function serve(app: App): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("app.shutdown() while upgrades wait in a slow dependency: every client gets its close frame", async () => {
  const clients = 30;
  const release = Promise.withResolvers<void>();
  let waiting = 0;
  const slow = Depends(async () => {
    waiting++;
    await release.promise;
    return "ready";
  });
  const app = new App({ logger: captureLogger() });
  app.websocket("/ws", { params: { slow } }, async (ws) => {
    await ws.accept();
    for await (const _ of ws.iterText()) {
      // reads until the shutdown ends the connection
    }
  });
  const server = serve(app);
  try {
    const outcomes = Promise.all(
      Array.from(
        { length: clients },
        () => upgradeAndAwaitClose(server.addr.port, "/ws"),
      ),
    );
    await until(() => waiting === clients, "every handler in its dependency");
    // The dependencies finish during the shutdown, just before it next
    // closes what has been accepted (every 20 ms; timers of one delay fire
    // in the order they were set): each handler accepts, and its socket is
    // closed while Deno is still opening it.
    setTimeout(() => release.resolve(), 20);
    const started = Date.now();
    await app.shutdown({ code: 1001, timeoutMs: 10_000 });
    const took = Date.now() - started;
    assert.equal(app.connections, 0, "no connection left when it resolves");
    assert.ok(took < 5_000, `shutdown took ${took} ms of its 10,000`);
    assert.deepEqual(
      await outcomes,
      Array.from({ length: clients }, () => ({ status: 101, close: 1001 })),
    );
  } finally {
    await server.shutdown();
  }
});

// The session reports the un-awaited accept() (see _session.ts) and closes
// with 1011 once the socket has opened: the close must reach the client.
Deno.test("An accept() not awaited, then a return: the client gets close 1011", async () => {
  const logger = captureLogger();
  const app = new App({ logger });
  app.websocket("/ws", (ws) => {
    void ws.accept();
  });
  const server = serve(app);
  try {
    const outcome = await upgradeAndAwaitClose(server.addr.port, "/ws");
    assert.deepEqual(outcome, { status: 101, close: 1011 });
    await until(() => app.connections === 0, "the connection to end");
    assert.match(
      String(logger.errors[0]?.[1]),
      /did you forget to await ws\.accept\(\)\?/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("An accept() not awaited, then close(4000): the client gets close 4000", async () => {
  const app = new App();
  const closed = Promise.withResolvers<{ code: number; reason: string }>();
  app.websocket("/ws", async (ws) => {
    void ws.accept();
    await ws.close(4000, "bye");
    closed.resolve(await ws.closed);
  });
  const server = serve(app);
  try {
    const outcome = await upgradeAndAwaitClose(server.addr.port, "/ws");
    assert.deepEqual(outcome, { status: 101, close: 4000 });
    assert.deepEqual(await closed.promise, { code: 4000, reason: "bye" });
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});

Deno.test("A {id:int} path beyond 2^53 does not match, over a real socket", async () => {
  const app = new App();
  const ids: unknown[] = [];
  app.websocket("/items/{id:int}", async (ws) => {
    ids.push(ws.pathParams.id);
    await ws.accept();
    await ws.close();
  });
  const server = serve(app);
  try {
    for (
      const path of [
        "/items/9007199254740993",
        "/items/99999999999999999999",
        `/items/${"9".repeat(400)}`,
      ]
    ) {
      const { status, conn } = await rawHandshake(server.addr.port, path);
      conn.close();
      assert.equal(status, 403, path);
    }
    const largest = await upgradeAndAwaitClose(
      server.addr.port,
      "/items/9007199254740991",
    );
    assert.deepEqual(largest, { status: 101, close: 1000 });
    assert.deepEqual(ids, [9007199254740991]);
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});

Deno.test("A {x:float} path that overflows to Infinity does not match; long decimals round", async () => {
  const app = new App();
  app.get("/scale/{x:float}", (_request, _args) => "matched");
  app.get("/items/{id:int}", (_request, _args) => "matched");
  const server = serve(app);
  try {
    const get = async (path: string) => {
      const response = await fetch(
        `http://127.0.0.1:${server.addr.port}${path}`,
      );
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await get(`/scale/${"9".repeat(400)}`), 404);
    assert.equal(await get(`/scale/${"9".repeat(300)}.5`), 200);
    assert.equal(await get("/scale/0.1000000000000000000001"), 200);
    assert.equal(await get("/items/9007199254740992"), 404);
    assert.equal(await get("/items/9007199254740991"), 200);
  } finally {
    await server.shutdown();
  }
});

Deno.test("An accept() not awaited, then a return: the in-memory client gets close 1011 too", async () => {
  const app = new App({ logger: captureLogger() });
  app.websocket("/ws", (ws) => {
    void ws.accept();
  });
  const session = await new TestClient(app, { raiseServerExceptions: false })
    .websocketConnect("/ws");
  const error = await session.receiveText().catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect, String(error));
  assert.equal(error.code, 1011);
  await session.close();
});
