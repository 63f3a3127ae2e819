/**
 * FastAPI/Starlette-style WebSockets for Deno: a `WebSocket` with
 * accept/receive/send/close and text, bytes and JSON helpers, routing on
 * FastAPI path templates, limits that keep a server alive, and an in-memory
 * test client (`./testing`).
 *
 * @example An echo server
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   for await (const text of ws.iterText()) {
 *     await ws.sendText(`Message text was: ${text}`);
 *   }
 * });
 * // In production: `export default app` and `deno serve`, or Deno.serve(app.fetch).
 * await using session = await new TestClient(app).websocketConnect("/ws");
 * await session.sendText("hello");
 * assert.equal(await session.receiveText(), "Message text was: hello");
 * ```
 *
 * @module
 */
export * from "./app.ts";
export * from "./connection.ts";
export * from "./errors.ts";
export * from "./messages.ts";
export * from "./params.ts";
export * from "./protocol.ts";
export * from "./route.ts";
export * from "./routing.ts";
export * from "./security.ts";
export * from "./upgrade.ts";
export * from "./websocket.ts";
