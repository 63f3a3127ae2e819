/**
 * Abuse limits for WebSocket connections, set on the `App` and overridden
 * per route.
 *
 * @module
 */
import type { HTTPConnection } from "./connection.ts";

/**
 * A token bucket per connection: it holds `messages` message tokens (and
 * `bytes` byte tokens, if set), refilled evenly over `perSeconds`. Each
 * incoming message takes one message token and its size in byte tokens; a
 * burst of up to `messages` messages passes at once. The message that
 * empties the bucket passes; the next one while it is empty does not: on a
 * plain route the socket is closed with 1008 "Rate limit exceeded" (the
 * handler reads what came before, then a `WebSocketDisconnect(1008)`); on a
 * protocol route (`protocol` option) the message is dropped unread and
 * answered with an `error` of code `"rate_limited"` (with its `id` if it
 * was a request), sent only if the client's send buffer is under the
 * high-water mark, and the connection goes on.
 *
 * @example Ten messages a second, 64 KiB a second
 * ```ts
 * import { App, type RateLimit } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const rateLimit: RateLimit = { messages: 10, bytes: 64 * 1024, perSeconds: 1 };
 * assert.ok(new App({ rateLimit }) instanceof App);
 * ```
 */
export interface RateLimit {
  /** Messages per `perSeconds` (and the burst size). */
  messages: number;
  /** Bytes per `perSeconds` (UTF-8 bytes for text). @default {no byte limit} */
  bytes?: number;
  /** The refill period, in seconds. */
  perSeconds: number;
}

/**
 * What identifies a client for `maxConnectionsPerClient`: a string, or
 * `undefined` to fall back to the remote address. It gets the connection
 * after the app's middleware ran, so it may read `conn.state` (the user an
 * authentication middleware put there). If it throws, the handshake is
 * refused with 500 and the error is logged.
 *
 * @example One connection per user
 * ```ts
 * import { App, type ClientKey } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const byUser: ClientKey = (conn) => conn.state.user as string | undefined;
 * const app = new App({ maxConnectionsPerClient: 1, clientKey: byUser });
 * assert.ok(app instanceof App);
 * ```
 */
export type ClientKey = (conn: HTTPConnection) => string | undefined;

/**
 * Limits set on the `App` (for every WebSocket route) and on a route (for
 * that route only, over the app's).
 *
 * - `maxConnections`: a handshake beyond it is refused with 503 and
 *   `Retry-After: 5`; on the app it counts every WebSocket connection, on a
 *   route those of the route.
 * - `maxConnectionsPerClient`: a client (its remote address, IPv6 by its
 *   /64 prefix, or what `clientKey` returns) beyond it is refused with 429
 *   and `Retry-After: 5`. Both refusals are logged as warnings.
 * - `maxLifetime`: an accepted connection is closed with 1001 "Maximum
 *   connection lifetime reached" after between 90 % and 100 % of it (the
 *   jitter spreads the reconnections of clients that came together).
 * - `rateLimit`: see {@linkcode RateLimit}.
 *
 * @example Limits on the app and a tighter one on a route
 * ```ts
 * import { App, type ConnectionLimits } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const limits: ConnectionLimits = { maxConnections: 10_000, maxConnectionsPerClient: 20 };
 * const app = new App(limits);
 * app.websocket("/ws", { maxConnections: 1 }, async (ws) => {
 *   await ws.accept();
 *   await ws.receiveText().catch(() => {});
 * });
 * const client = new TestClient(app);
 * await using first = await client.websocketConnect("/ws");
 * const refused = await client.websocketConnect("/ws").catch((e) => e);
 * assert.equal(refused.response.status, 503);
 * assert.ok(refused.response.headers.has("retry-after"));
 * await first.close();
 * ```
 */
export interface ConnectionLimits {
  /** Incoming messages (and bytes) per connection. @default {no limit} */
  rateLimit?: RateLimit;
  /** Open WebSocket connections. @default {no limit} */
  maxConnections?: number;
  /** Open WebSocket connections per client. @default {no limit} */
  maxConnectionsPerClient?: number;
  /** Seconds an accepted connection may stay open. @default {no limit} */
  maxLifetime?: number;
  /** Keys clients for `maxConnectionsPerClient`. @default {the remote address (IPv6: its /64)} */
  clientKey?: ClientKey;
}
