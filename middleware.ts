/**
 * Middleware: one chain that sees every HTTP request and every WebSocket
 * handshake, before routing.
 *
 * @module
 */
import type { HTTPConnection } from "./connection.ts";

/**
 * Runs the rest of the chain (later middleware, then routing and the
 * handler) and resolves with its response: for an accepted WebSocket, the
 * 101 upgrade response. Calling it twice returns the same response.
 *
 * @example Timing every request
 * ```ts
 * import { App, type Next } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.use(async (_conn, next: Next) => {
 *   const started = performance.now();
 *   const response = await next();
 *   response.headers.set("server-timing", `app;dur=${performance.now() - started}`);
 *   return response;
 * });
 * app.get("/", () => "ok");
 * const response = await new TestClient(app).get("/");
 * assert.match(response.headers.get("server-timing")!, /^app;dur=/);
 * ```
 */
export type Next = () => Promise<Response>;

/**
 * A middleware, registered with `app.use()`. It gets an `HTTPConnection` for
 * every request, WebSocket handshakes included (they carry
 * `Upgrade: websocket` in `conn.headers`), and either:
 * - returns a `Response` without calling `next()`: the request is denied
 *   with it (for a handshake, the client gets exactly that response);
 * - calls `next()` and returns what it resolved with, after adding headers
 *   to it (for a handshake that the handler accepted, these headers go out
 *   on the 101);
 * - returns nothing: as if it had returned `next()`.
 *
 * What it puts in `conn.state` is in the `state` of the handler's
 * connection (the `WebSocket`, or the `HTTPConnection` dependencies get).
 * Errors it throws go through the app's exception handlers (an
 * `HTTPException` becomes its response, anything else a logged 500).
 * Middleware runs in registration order; `Router.use` adds middleware run
 * after routing, for the routes of that router only.
 *
 * The 101 response of an accepted WebSocket cannot be replaced: a
 * middleware that returns another response after `next()` gave it a 101 is
 * logged, and the 101 is sent anyway (Deno would otherwise never open the
 * socket and the client would hang).
 *
 * @example Denying HTTP requests and handshakes alike
 * ```ts
 * import { App, type Middleware } from "@wsapi/wsapi";
 * import { TestClient, WebSocketDenialResponse } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const requireKey: Middleware = (conn) => {
 *   if (conn.headers.get("x-api-key") !== "secret") {
 *     return new Response("missing key", { status: 401 });
 *   }
 *   conn.state.user = "alice";
 * };
 * const app = new App();
 * app.use(requireKey);
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   await ws.sendText(`hello ${ws.state.user}`);
 * });
 * const client = new TestClient(app);
 * assert.equal((await client.get("/ws")).status, 401);
 * const denied = await client.websocketConnect("/ws").catch((e) => e);
 * assert.ok(denied instanceof WebSocketDenialResponse);
 * assert.equal(denied.response.status, 401);
 * await using ws = await client.websocketConnect("/ws", { headers: { "x-api-key": "secret" } });
 * assert.equal(await ws.receiveText(), "hello alice");
 * ```
 */
export type Middleware = (
  conn: HTTPConnection,
  next: Next,
) => Response | void | Promise<Response | void>;
