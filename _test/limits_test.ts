// Limits over real sockets, with a raw TCP client the test fully controls.
import assert from "node:assert/strict";
import { App, WebSocketDisconnect } from "../mod.ts";
import { rawHandshake } from "./_raw_client.ts";
import { captureLogger } from "./_transports.ts";

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("WebSocket.sendBytes() waits while a client that never reads is above sendHighWaterMark", async () => {
  const app = new App({
    sendHighWaterMark: 64 * 1024,
    logger: captureLogger(),
  });
  const chunk = new Uint8Array(16 * 1024);
  let sent = 0;
  const ended = Promise.withResolvers<unknown>();
  app.websocket("/firehose", async (ws) => {
    await ws.accept();
    try {
      // Bounded: without backpressure this would fill memory until the limit.
      while (sent < 16_384) {
        await ws.sendBytes(chunk);
        sent++;
      }
      ended.resolve("never blocked");
    } catch (error) {
      ended.resolve(error);
    }
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const { status, conn } = await rawHandshake(server.addr.port, "/firehose");
    assert.equal(status, 101);
    // The kernel's socket buffers absorb some megabytes first; then the
    // sender must stop and stay stopped.
    let last = -1;
    await until(() => {
      const stalled = sent === last && sent > 0;
      last = sent;
      return stalled;
    }, "the sender to stall");
    const stalledAt = sent;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sent, stalledAt, "no progress while the client reads nothing");
    assert.ok(sent < 16_384, `bounded: ${sent} chunks of 16 KiB`);
    // The client vanishes: the waiting send rejects with WebSocketDisconnect.
    conn.close();
    const error = await ended.promise;
    assert.ok(error instanceof WebSocketDisconnect, String(error));
    assert.equal(error.code, 1006);
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});

Deno.test("A client that vanishes mid-receive ends the handler with 1006 and frees the connection", async () => {
  const app = new App();
  const seen = Promise.withResolvers<unknown>();
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    seen.resolve(await ws.receiveText().catch((e) => e));
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  try {
    const { status, conn } = await rawHandshake(server.addr.port, "/ws");
    assert.equal(status, 101);
    await until(() => app.connections === 1, "the handler to start");
    conn.close();
    const error = await seen.promise;
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 1006);
    await until(() => app.connections === 0, "the connection to end");
  } finally {
    await server.shutdown();
  }
});
