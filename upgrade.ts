/**
 * The seam between a connection and the runtime: the function that turns an
 * upgrade request into a socket (`Deno.upgradeWebSocket` in production, an
 * in-memory pair in the test client) and what a handshake hands the server.
 *
 * @module
 */
import type { WebSocketLike } from "./_socket_driver.ts";

export type { WebSocketLike } from "./_socket_driver.ts";

/**

/**
 * Options of {@linkcode UpgradeFunction}, as `Deno.upgradeWebSocket` takes them.
 *
 * @example Options
 * ```ts
 * import type { UpgradeOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: UpgradeOptions = { protocol: "v1", idleTimeout: 30 };
 * assert.equal(options.idleTimeout, 30);
 * ```
 */
export interface UpgradeOptions {
  /** The chosen subprotocol, echoed in `Sec-WebSocket-Protocol`. */
  protocol?: string;
  /** Seconds without a pong before the socket is closed; 0 disables. */
  idleTimeout?: number;
}

/**
 * Turns an upgrade request into a socket and the response that completes the
 * handshake: `Deno.upgradeWebSocket` in production, an in-memory pair in the
 * test client.
 *
 * @example A custom upgrade function
 * ```ts
 * import { App, type UpgradeFunction } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * // Wrap the upgrade, e.g. to count sockets; the test client swaps in its own.
 * let upgrades = 0;
 * const upgrade: UpgradeFunction = (request, options) => {
 *   upgrades++;
 *   return Deno.upgradeWebSocket(request, options);
 * };
 * const app = new App({ upgrade });
 * app.websocket("/ws", async (ws) => await ws.accept());
 * await using session = await new TestClient(app).websocketConnect("/ws");
 * assert.equal(upgrades, 0); // in memory: the test client's own upgrade ran
 * assert.equal(session.acceptedSubprotocol, null);
 * ```
 */
export type UpgradeFunction = (
  request: Request,
  options: UpgradeOptions,
) => { socket: WebSocketLike; response: Response };

/**
 * The outcome of a handshake, handed to the server exactly once.
 *
 * @example A refusal
 * ```ts
 * import type { WebSocketHandshake } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const refusal: WebSocketHandshake = {
 *   response: new Response(null, { status: 403 }),
 *   close: { code: 1008, reason: "no token" },
 * };
 * assert.equal(refusal.response.status, 403);
 * ```
 */
export interface WebSocketHandshake {
  /** The response to return: the upgrade response, a 403, or a denial. */
  response: Response;
  /** Set when the application closed before accepting (a refusal). */
  close?: { code: number; reason: string };
}
