/**
 * The application: routes requests, runs WebSocket handlers through the
 * handshake and turns their errors into what a client should see.
 *
 * @module
 */
import {
  HTTPException,
  RequestValidationError,
  WebSocketDisconnect,
  WebSocketException,
  WebSocketRequestValidationError,
} from "./errors.ts";
import {
  type FetchHandler,
  type HttpRoute,
  type OriginPolicy,
  Router,
  WebSocketRoute,
} from "./routing.ts";
import {
  HTTPConnection,
  type UpgradeFunction,
  WebSocket,
  WebSocketState,
} from "./websocket.ts";
import { type DispatchContext, dispatchers } from "./_dispatch.ts";
import { TestServeInfo } from "./_test_serve_info.ts";
import { assertCloseFrame } from "./_close.ts";
import { connectionControl } from "./_connection_control.ts";
import { normaliseOrigins, originRefusal } from "./_origin.ts";
import { requestHeaders } from "./_headers.ts";
import type { Dependency } from "./params.ts";
import { Solver } from "./_resolve.ts";

/**
 * Where the app writes what went wrong.
 *
 * @example Capturing the log in a test
 * ```ts
 * import { App, type Logger } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const lines: unknown[][] = [];
 * const logger: Logger = { error: (...data) => lines.push(data), warn: (...data) => lines.push(data) };
 * const app = new App({ logger });
 * app.websocket("/ws", () => {}); // returns without accepting: a warning
 * await new TestClient(app).websocketConnect("/ws").catch(() => {});
 * assert.match(String(lines[0][0]), /without calling accept/);
 * ```
 */
export interface Logger {
  /** Unhandled errors. */
  error(...data: unknown[]): void;
  /** Refusals and misuse the app recovered from. */
  warn(...data: unknown[]): void;
}

/**
 * Options of {@linkcode App}.
 *
 * @example Tighter limits
 * ```ts
 * import { App, type AppOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: AppOptions = { maxMessageSize: 64 * 1024, maxQueuedMessages: 32, idleTimeout: 30 };
 * assert.ok(new App(options) instanceof App);
 * ```
 */
export interface AppOptions {
  /** Bytes; a larger incoming message closes the socket with 1009. @default {1048576} */
  maxMessageSize?: number;
  /** Messages received but not yet read by the handler; one more closes with 1008. @default {1024} */
  maxQueuedMessages?: number;
  /** Seconds without a pong before Deno closes the socket; 0 disables. @default {120} */
  idleTimeout?: number;
  /** Bytes buffered for a client before `send*()` waits for it to drain. @default {1048576} */
  sendHighWaterMark?: number;
  /** The upgrade function. @default {Deno.upgradeWebSocket} */
  upgrade?: UpgradeFunction;
  /** Where errors and warnings go. @default {console} */
  logger?: Logger;
  /**
   * Which `Origin`s may open a WebSocket: `"*"` (any: unsafe when cookies
   * authenticate, as browsers send them on cross-site upgrades), a list of
   * origins (`"https://app.example"`), or a predicate. A request without an
   * `Origin` header (not a browser) is always allowed. Refusals get 403 and a
   * warning in the log. Routes may override it.
   *
   * @default {same origin: the Origin's host must equal the Host header}
   */
  allowedOrigins?: OriginPolicy;
  /** Dependencies run before every handler, before router and route ones. */
  dependencies?: readonly Dependency[];
}

/**
 * Handles an error class for HTTP routes (`conn` is an `HTTPConnection`) and
 * WebSocket routes (`conn` is the `WebSocket`). A `Response` is sent (for a
 * WebSocket before accept, as the denial response); returning nothing from a
 * WebSocket handler means it dealt with the connection itself, e.g. closed it.
 *
 * @example Closing with a custom code
 * ```ts
 * import { App, type ExceptionHandler, WebSocket, WebSocketDisconnect } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * class QuotaExceeded extends Error {}
 * const onQuota: ExceptionHandler<QuotaExceeded> = async (conn) => {
 *   if (conn instanceof WebSocket) await conn.close(4429, "quota exceeded");
 *   else return new Response("quota exceeded", { status: 429 });
 * };
 * const app = new App().exceptionHandler(QuotaExceeded, onQuota);
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   throw new QuotaExceeded();
 * });
 * await using ws = await new TestClient(app).websocketConnect("/ws");
 * const error = await ws.receiveText().catch((e) => e);
 * assert.ok(error instanceof WebSocketDisconnect);
 * assert.equal(error.code, 4429);
 * ```
 */
export type ExceptionHandler<E = Error> = (
  conn: HTTPConnection,
  error: E,
) => Response | void | Promise<Response | void>;

/**
 * Options of {@linkcode App.shutdown}.
 *
 * @example Shutting down with a restart code
 * ```ts
 * import { App, type AppShutdownOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: AppShutdownOptions = { code: 1012, reason: "restarting", timeoutMs: 5000 };
 * const app = new App();
 * await app.shutdown(options);
 * assert.equal(app.connections, 0);
 * ```
 */
export interface AppShutdownOptions {
  /** The close code sent to every client. @default {1001} */
  code?: number;
  /** The close reason. @default {""} */
  reason?: string;
  /** How long to wait for handlers (and their cleanup) to finish. @default {10000} */
  timeoutMs?: number;
}

const { CONNECTING, CONNECTED, DISCONNECTED } = WebSocketState;
const DONE: Promise<void> = Promise.resolve();

// Where a request's unhandled errors go: its context's onError, else the log.
type Reporting = Pick<DispatchContext, "onError">;
const LOG_ERRORS: Reporting = {};

// How a WebSocket handler without dependencies ends (see #serveWebSocket).
let handlerReturned: (
  this: Reporting,
  route: WebSocketRoute,
  ws: WebSocket,
) => Promise<void>;
let handlerThrew: (
  this: Reporting,
  route: WebSocketRoute,
  ws: WebSocket,
  error: unknown,
) => Promise<void>;
const NO_ARGS: Record<string, unknown> = Object.freeze({}) as Record<
  string,
  unknown
>;
const TEXT = { "content-type": "text/plain; charset=utf-8" };
const WEBSOCKET_UPGRADE = /(?:^|[\s,])websocket(?:$|[\s,])/i;

function positiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new RangeError(
      `Cannot create App: ${name} must be a positive integer, got ${value}`,
    );
  }
}

function denoUpgrade(): UpgradeFunction {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno?.upgradeWebSocket !== undefined) return deno.upgradeWebSocket;
  return () => {
    throw new Error(
      "Cannot upgrade: Deno.upgradeWebSocket is not available: pass the runtime's upgrade function as the App's `upgrade` option",
    );
  };
}

function clientOf(
  info: Deno.ServeHandlerInfo | undefined,
): { hostname: string; port: number } | null {
  const addr = info?.remoteAddr;
  if (addr === undefined || !("hostname" in addr)) return null;
  return { hostname: addr.hostname, port: addr.port };
}

function toResponse(result: unknown): Response {
  if (result instanceof Response) return result;
  if (typeof result === "string") {
    return new Response(result, { headers: TEXT });
  }
  if (result === undefined) return new Response(null, { status: 204 });
  return Response.json(result);
}

const CONNECTION_UPGRADE = /(?:^|[\s,])upgrade(?:$|[\s,])/i;

/**
 * Checks the parts of an upgrade request that RFC 6455 §4.2.1 requires, so a
 * malformed handshake is the client's error (400, or 426 for another
 * protocol version, §4.2.2) rather than an exception inside `accept()`.
 */
function invalidHandshake(headers: Headers): Response | null {
  const version = headers.get("sec-websocket-version");
  if (version !== null && version.trim() !== "13") {
    return detail(426, "Unsupported WebSocket version: use 13", {
      "sec-websocket-version": "13",
    });
  }
  const key = headers.get("sec-websocket-key");
  const connection = headers.get("connection");
  if (
    version === null || key === null || key.trim() === "" ||
    connection === null || !CONNECTION_UPGRADE.test(connection)
  ) {
    return detail(
      400,
      "Invalid WebSocket handshake: Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13 are required",
    );
  }
  return null;
}

function detail(status: number, text: string, headers?: HeadersInit): Response {
  return new HTTPException(status, text, headers).toResponse();
}

/**
 * A WebSocket application: routes, limits and error handling. `fetch` is a
 * bound function, so `Deno.serve(app.fetch)` and `export default app` (for
 * `deno serve`) both work.
 *
 * What a client sees:
 * - an upgrade request no WebSocket route matches: 403;
 * - a plain request to a WebSocket-only path: 426 with `Upgrade: websocket`;
 * - a path no route matches: 404; a matching path with another method: 405;
 * - a handler that closes (or throws `WebSocketException`) before accepting:
 *   403; one that returns without accepting: 403 and a warning;
 * - `HTTPException` before accepting: that status as a denial response;
 * - any other error: 500 before accepting, close 1011 after; logged once.
 *
 * @example Serving an echo endpoint with Deno.serve
 * ```ts ignore
 * import { App } from "@wsapi/wsapi";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   for await (const text of ws.iterText()) await ws.sendText(text);
 * });
 * Deno.serve({ port: 8000 }, app.fetch);
 * ```
 *
 * @example Testing it in memory
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.get("/", () => "home");
 * app.websocket("/ws/{room}", async (ws) => {
 *   await ws.accept();
 *   await ws.sendText(`joined ${ws.pathParams.room}`);
 * });
 * const client = new TestClient(app);
 * assert.equal(await (await client.get("/")).text(), "home");
 * await using session = await client.websocketConnect("/ws/lobby");
 * assert.equal(await session.receiveText(), "joined lobby");
 * ```
 */
export class App extends Router {
  /**
   * Serves one request; bound, so it can be passed around as a function.
   *
   * @param request The request.
   * @param info Deno's connection info (the client address).
   * @returns The response.
   */
  readonly fetch: (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ) => Promise<Response>;
  #maxMessageSize: number;
  #maxQueuedMessages: number;
  #idleTimeout: number;
  #sendHighWaterMark: number;
  /**
   * Replacements for dependencies, looked up whenever one is resolved
   * (sub-dependencies included): key the original `Dependency` or its
   * function; the value is a function (called with the connection) or a
   * `Dependency` (its own params are resolved). Cached values stay keyed by
   * the original. Mostly for tests.
   *
   * @example Replacing a dependency in a test
   * ```ts
   * import { App, Depends } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * function currentUser(): string {
   *   throw new Error("needs a database");
   * }
   * const app = new App();
   * app.get("/me", { params: { user: Depends(currentUser) } }, (_req, { user }) => user);
   * app.dependencyOverrides.set(currentUser, () => "test-user");
   * assert.equal(await (await new TestClient(app).get("/me")).text(), "test-user");
   * ```
   */
  readonly dependencyOverrides: Map<unknown, unknown> = new Map();
  #upgrade: UpgradeFunction;
  #logger: Logger;
  #allowedOrigins: OriginPolicy | undefined;
  #handlers = new Map<unknown, ExceptionHandler<never>>();
  // Every connection being served, and the promise of its whole run.
  #running = new Map<WebSocket, Promise<void>>();
  #shutdown: { code: number; reason: string } | null = null;

  /**
   * Creates an application.
   *
   * @param options Limits, the upgrade function and the logger.
   * @throws {RangeError} If a limit is not a positive integer.
   */
  constructor(options: AppOptions = {}) {
    super({ dependencies: options.dependencies });
    positiveInteger("maxMessageSize", options.maxMessageSize);
    positiveInteger("maxQueuedMessages", options.maxQueuedMessages);
    positiveInteger("sendHighWaterMark", options.sendHighWaterMark);
    if (
      options.idleTimeout !== undefined &&
      !(Number.isInteger(options.idleTimeout) && options.idleTimeout >= 0)
    ) {
      throw new RangeError(
        `Cannot create App: idleTimeout must be a whole number of seconds (0 disables), got ${options.idleTimeout}`,
      );
    }
    this.#maxMessageSize = options.maxMessageSize ?? 1024 * 1024;
    this.#maxQueuedMessages = options.maxQueuedMessages ?? 1024;
    this.#idleTimeout = options.idleTimeout ?? 120;
    this.#sendHighWaterMark = options.sendHighWaterMark ?? 1024 * 1024;
    this.#upgrade = options.upgrade ?? denoUpgrade();
    this.#logger = options.logger ?? console;
    this.#allowedOrigins = normaliseOrigins(
      options.allowedOrigins,
      "create App",
    );
    this.fetch = (request, info) =>
      info instanceof TestServeInfo
        ? this.#handle(request, info.take())
        : this.#handle(request, { client: clientOf(info), info });
    dispatchers.set(this, (request, context) => this.#handle(request, context));
  }

  /** WebSocket connections being served: from the upgrade request until the handler has finished and the socket is closed. */
  get connections(): number {
    return this.#running.size;
  }

  /**
   * Handles errors of `errorClass` (and its subclasses) thrown by handlers
   * and dependencies, on HTTP and WebSocket routes. The handler of the most
   * specific class wins; one for `HTTPException` or `WebSocketException`
   * replaces the built-in behaviour. A `WebSocketDisconnect` leaving a
   * WebSocket handler is a normal end and is never handled.
   *
   * @param errorClass The error class.
   * @param handler Returns the response to send, or deals with the WebSocket.
   * @returns This app.
   *
   * @example Turning an error into a 404
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * class NotFoundError extends Error {}
   * const app = new App();
   * app.exceptionHandler(NotFoundError, (_conn, error) =>
   *   Response.json({ detail: error.message }, { status: 404 }));
   * app.get("/items/{id}", () => {
   *   throw new NotFoundError("no such item");
   * });
   * const response = await new TestClient(app).get("/items/1");
   * assert.equal(response.status, 404);
   * assert.deepEqual(await response.json(), { detail: "no such item" });
   * ```
   */
  exceptionHandler<E extends Error>(
    // deno-lint-ignore no-explicit-any
    errorClass: abstract new (...args: any[]) => E,
    handler: ExceptionHandler<E>,
  ): this {
    if (typeof errorClass !== "function" || typeof handler !== "function") {
      throw new TypeError(
        "Cannot register exception handler: expected an error class and a handler function",
      );
    }
    this.#handlers.set(errorClass, handler as ExceptionHandler<never>);
    return this;
  }

  // The handler registered for the error's class or its nearest ancestor.
  #handlerFor(error: unknown): ExceptionHandler<unknown> | undefined {
    if (
      this.#handlers.size === 0 || typeof error !== "object" || error === null
    ) {
      return undefined;
    }
    for (
      let proto = Object.getPrototypeOf(error);
      proto !== null && proto !== Object.prototype;
      proto = Object.getPrototypeOf(proto)
    ) {
      const handler = this.#handlers.get(proto.constructor);
      if (handler !== undefined) return handler as ExceptionHandler<unknown>;
    }
    return undefined;
  }

  /**
   * Shuts the WebSocket side down: new upgrades get 503, every open socket
   * is closed with `code` (connections still in their handshake are closed as
   * soon as they accept), and the promise resolves once every handler and
   * its cleanup has finished, or after `timeoutMs` with a warning. HTTP
   * requests are still served; stop the server after this.
   *
   * @param options The close code and reason, and how long to wait.
   * @throws {RangeError} If the code or reason may not be sent.
   *
   * @example On SIGTERM
   * ```ts ignore
   * import { App } from "@wsapi/wsapi";
   *
   * const app = new App();
   * const server = Deno.serve(app.fetch);
   * Deno.addSignalListener("SIGTERM", async () => {
   *   await app.shutdown({ code: 1012, reason: "restarting" });
   *   await server.shutdown();
   * });
   * ```
   */
  async shutdown(options: AppShutdownOptions = {}): Promise<void> {
    const { code = 1001, reason = "", timeoutMs = 10_000 } = options;
    assertCloseFrame("shut down", code, reason);
    this.#shutdown = { code, reason };
    const deadline = Date.now() + timeoutMs;
    while (this.#running.size > 0) {
      // Ended as if dropped, so a handler sees WebSocketDisconnect wherever
      // it is, never a "closed" misuse error for a close it did not make.
      for (const ws of this.#running.keys()) {
        connectionControl.end(ws, code, reason);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#logger.warn(
          `App.shutdown(): ${this.#running.size} WebSocket connection(s) still running after ${timeoutMs} ms`,
        );
        return;
      }
      // Wake when everything has finished, or soon, to close sockets that
      // were accepted in the meantime.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(this.#running.values()),
        new Promise((resolve) =>
          timer = setTimeout(resolve, Math.min(left, 20))
        ),
      ]);
      clearTimeout(timer);
    }
  }

  /**
   * Builds the absolute URL of a named route against `base`: `ws:`/`wss:`
   * for a WebSocket route (`wss:` when `base` is `https:` or `wss:`),
   * `http:`/`https:` otherwise.
   *
   * @param name The route's name.
   * @param params Its path parameters.
   * @param base The URL whose origin to use.
   * @returns The URL.
   * @throws {NoMatchFound} If no route has that name and those parameter names.
   *
   * @example A WebSocket URL from an HTTP origin
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.websocket("/ws", { name: "ws" }, async (ws) => await ws.accept());
   * assert.equal(
   *   app.urlFor("ws", {}, new URL("https://example.org/page")).href,
   *   "wss://example.org/ws",
   * );
   * ```
   */
  urlFor(
    name: string,
    params: Record<string, unknown>,
    base: URL | string,
  ): URL {
    const path = this.urlPathFor(name, params);
    const url = new URL(path, base);
    const secure = url.protocol === "https:" || url.protocol === "wss:";
    const websocket = this.routeNamed(name) instanceof WebSocketRoute;
    url.protocol = websocket
      ? (secure ? "wss:" : "ws:")
      : (secure ? "https:" : "http:");
    return url;
  }

  #handle(request: Request, context: DispatchContext): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "GET") {
      // Read through headers the request does not hold, before anything
      // else reads it: a WebSocket keeps them (see _headers.ts).
      const headers = requestHeaders(request);
      const upgrade = headers.get("upgrade");
      if (upgrade !== null && WEBSOCKET_UPGRADE.test(upgrade)) {
        return this.#handleWebSocket(request, headers, url, context);
      }
    }
    return this.#handleHttp(request, url, context);
  }

  async #delegate(
    handler: FetchHandler,
    request: Request,
    context: DispatchContext,
  ): Promise<Response> {
    try {
      return await handler(request, context.info);
    } catch (error) {
      this.#report(
        error,
        `mounted handler for "${new URL(request.url).pathname}"`,
        context,
      );
      return new Response("Internal Server Error", {
        status: 500,
        headers: TEXT,
      });
    }
  }

  #handleWebSocket(
    request: Request,
    headers: Headers,
    url: URL,
    context: DispatchContext,
  ): Promise<Response> {
    // The connection keeps the headers past the upgrade, so they are read
    // in full (see WebSocket): done first, the reads below each save a call
    // into the runtime.
    headers.has("sec-websocket-key");
    const invalid = invalidHandshake(headers);
    if (invalid !== null) return Promise.resolve(invalid);
    if (this.#shutdown !== null) {
      return Promise.resolve(
        detail(503, "Service Unavailable: shutting down", {
          "retry-after": "5",
        }),
      );
    }
    const found = this.resolve(url.pathname, "websocket");
    if (found?.mount !== undefined) {
      return this.#delegate(found.mount.handler, request, context);
    }
    if (found === null) {
      // Starlette closes before accept with 1000: HTTP 403 on the wire.
      context.onRefuse?.(1000, "");
      return Promise.resolve(new Response(null, { status: 403 }));
    }
    const route = found.route as WebSocketRoute;
    const options = route.options;
    const refusal = originRefusal(
      options.allowedOrigins ?? this.#allowedOrigins,
      request,
      headers,
    );
    if (refusal !== null) {
      this.#logger.warn(
        `Refused WebSocket upgrade to "${url.pathname}": Origin "${
          headers.get("origin")
        }" is ${refusal}: list it in allowedOrigins to accept it`,
      );
      return Promise.resolve(
        new Response("Origin not allowed", { status: 403, headers: TEXT }),
      );
    }
    const { promise, resolve } = Promise.withResolvers<Response>();
    const ws = new WebSocket({
      app: this,
      url,
      headers,
      client: context.client,
      pathParams: found.params,
      request,
      upgrade: context.upgrade ?? this.#upgrade,
      maxMessageSize: options.maxMessageSize ?? this.#maxMessageSize,
      maxQueuedMessages: options.maxQueuedMessages ?? this.#maxQueuedMessages,
      idleTimeout: options.idleTimeout ?? this.#idleTimeout,
      sendHighWaterMark: this.#sendHighWaterMark,
      respond(handshake) {
        if (handshake.close !== undefined) {
          context.onRefuse?.(handshake.close.code, handshake.close.reason);
        }
        resolve(handshake.response);
      },
    });
    const done = this.#serveWebSocket(
      route,
      ws,
      // What the connection keeps of the context (not Deno's info).
      context.onError === undefined ? LOG_ERRORS : context,
    );
    this.#running.set(ws, done);
    context.onConnection?.(done);
    return promise;
  }

  // Runs the handler, after its dependencies, then finishes the connection.
  // A handler without dependencies is chained to rather than awaited, so
  // that no frame of the library's waits as long as the connection lives.
  #serveWebSocket(
    route: WebSocketRoute,
    ws: WebSocket,
    reporting: Reporting,
  ): Promise<void> {
    if (route.dependencies.length > 0 || route.options.params !== undefined) {
      return this.#serveWithDependencies(route, ws, reporting);
    }
    let running: unknown;
    try {
      running = route.handler(ws, NO_ARGS);
    } catch (error) {
      return handlerThrew.call(reporting, route, ws, error);
    }
    // (Promise.resolve returns a native promise as it is.) Bound functions
    // rather than closures: an idle connection then keeps no closure
    // context, about 100 bytes less.
    return Promise.resolve(running).then(
      handlerReturned.bind(reporting, route, ws),
      handlerThrew.bind(reporting, route, ws),
    );
  }

  static {
    handlerReturned = function (route, ws) {
      if (ws.app.#finishedQuietly(ws)) return DONE;
      return ws.app.#finishWebSocket(
        route,
        ws,
        this,
        undefined,
        false,
        null,
      );
    };
    handlerThrew = function (route, ws, error) {
      return ws.app.#finishWebSocket(
        route,
        ws,
        this,
        undefined,
        true,
        error,
      );
    };
  }

  async #serveWithDependencies(
    route: WebSocketRoute,
    ws: WebSocket,
    reporting: Reporting,
  ): Promise<void> {
    const solver = new Solver(ws, this.dependencyOverrides);
    try {
      const args = await solver.solve(
        route.dependencies,
        route.options.params,
        true,
      );
      await route.handler(ws, args);
    } catch (error) {
      return this.#finishWebSocket(route, ws, reporting, solver, true, error);
    }
    return this.#finishWebSocket(route, ws, reporting, solver, false, null);
  }

  // The usual end of a handler without dependencies that returned, finished
  // without an async step: the socket has closed, nothing is left to do.
  #finishedQuietly(ws: WebSocket): boolean {
    const state = ws.applicationState;
    if (
      !connectionControl.settled(ws) ||
      (state !== CONNECTED && state !== DISCONNECTED)
    ) return false;
    // With the socket closed, close() only records that the application is
    // done; it cannot fail.
    if (state === CONNECTED) void ws.close();
    this.#running.delete(ws);
    return true;
  }

  async #finishWebSocket(
    route: WebSocketRoute,
    ws: WebSocket,
    reporting: Reporting,
    solver: Solver | undefined,
    failed: boolean,
    error: unknown,
  ): Promise<void> {
    try {
      // Dependency cleanup first, then what the error means for the client
      // (FastAPI's order): the cleanup sees the error at its yield. A
      // disconnect escaping the handler is a normal end, not an error.
      if (solver !== undefined) {
        await this.#cleanup(
          solver,
          error,
          failed && !(error instanceof WebSocketDisconnect),
          route.path,
          reporting,
        );
      }
      if (failed) await this.#onWebSocketError(route, ws, error, reporting);
      // Finish what the handler left open.
      if (ws.applicationState === CONNECTING) {
        this.#logger.warn(
          `WebSocket handler for "${route.path}" returned without calling accept() or close(): the handshake was refused with 403`,
        );
        await ws.close(1000);
      } else if (ws.applicationState === CONNECTED) {
        const closing = this.#shutdown;
        await ws.close(closing?.code ?? 1000, closing?.reason ?? "");
      }
      if (!connectionControl.settled(ws)) await ws.closed;
    } finally {
      this.#running.delete(ws);
    }
  }

  async #onWebSocketError(
    route: WebSocketRoute,
    ws: WebSocket,
    error: unknown,
    reporting: Reporting,
  ): Promise<void> {
    // The client left and the handler let the disconnect through: a normal end.
    if (error instanceof WebSocketDisconnect) return;
    const handler = this.#handlerFor(error);
    if (handler !== undefined) {
      try {
        const response = await handler(ws, error);
        if (!(response instanceof Response)) return;
        if (ws.applicationState === CONNECTING) {
          await ws.sendDenialResponse(response);
          return;
        }
        error = new Error(
          "An exception handler returned a Response after accept(): close the WebSocket instead",
          { cause: error },
        );
      } catch (handlerError) {
        error = handlerError;
      }
    } else if (
      error instanceof WebSocketException ||
      error instanceof WebSocketRequestValidationError
    ) {
      const state = ws.applicationState;
      if (state !== CONNECTING && state !== CONNECTED) return;
      try {
        await ws.close(error.code, error.reason);
        return;
      } catch (closeError) {
        // An invalid code or reason in the exception: report that instead.
        error = closeError;
      }
    } else if (
      error instanceof HTTPException &&
      ws.applicationState === CONNECTING
    ) {
      await ws.sendDenialResponse(error.toResponse());
      return;
    }
    this.#report(error, `WebSocket handler for "${route.path}"`, reporting);
    // Never the error's own message: close reasons reach untrusted clients.
    if (ws.applicationState === CONNECTING) {
      await ws.sendDenialResponse(
        new Response("Internal Server Error", { status: 500, headers: TEXT }),
      );
    } else if (ws.applicationState === CONNECTED) {
      await ws.close(1011, "Internal Server Error");
    }
  }

  // Runs a request's dependency cleanup; what fails in it is reported.
  async #cleanup(
    solver: Solver,
    error: unknown,
    failed: boolean,
    path: string,
    reporting: Reporting,
  ): Promise<void> {
    await solver.cleanup(error, failed, (cleanupError, name) =>
      this.#report(
        cleanupError,
        `cleanup of dependency "${name}" for "${path}"`,
        reporting,
      ));
  }

  #report(error: unknown, where: string, reporting: Reporting): void {
    if (reporting.onError !== undefined) reporting.onError(error);
    else this.#logger.error(`Unhandled error in ${where}:`, error);
  }

  async #handleHttp(
    request: Request,
    url: URL,
    context: DispatchContext,
  ): Promise<Response> {
    const method = request.method;
    const found = this.resolve(url.pathname, method);
    if (found === null) return this.#noHttpMatch(url.pathname);
    if (found.mount !== undefined) {
      return this.#delegate(found.mount.handler, request, context);
    }
    const route = found.route as HttpRoute;
    let response: Response | undefined;
    let solver: Solver | undefined;
    let failed = false;
    let error: unknown;
    try {
      let args: Record<string, unknown> = NO_ARGS;
      if (route.dependencies.length > 0 || route.options.params !== undefined) {
        solver = new Solver(
          new HTTPConnection({
            app: this,
            url,
            headers: request.headers,
            client: context.client,
            pathParams: found.params,
          }),
          this.dependencyOverrides,
        );
        args = await solver.solve(
          route.dependencies,
          route.options.params,
          false,
        );
      }
      response = toResponse(await route.handler(request, args));
    } catch (thrown) {
      failed = true;
      error = thrown;
    }
    if (solver !== undefined) {
      await this.#cleanup(solver, error, failed, route.path, context);
    }
    if (failed || response === undefined) {
      response = await this.#onHttpError(
        route,
        request,
        url,
        found.params,
        error,
        context,
      );
    }
    if (method === "HEAD" && response.body !== null) {
      await response.body.cancel();
      return new Response(null, response);
    }
    return response;
  }

  async #onHttpError(
    route: HttpRoute,
    request: Request,
    url: URL,
    params: Record<string, unknown>,
    error: unknown,
    context: DispatchContext,
  ): Promise<Response> {
    const handler = this.#handlerFor(error);
    if (handler !== undefined) {
      const conn = new HTTPConnection({
        app: this,
        url,
        headers: request.headers,
        client: context.client,
        pathParams: params,
      });
      try {
        const response = await handler(conn, error);
        if (response instanceof Response) return response;
        error = new Error(
          "An exception handler for an HTTP route returned no Response",
          { cause: error },
        );
      } catch (handlerError) {
        error = handlerError;
      }
    } else if (
      error instanceof HTTPException ||
      error instanceof RequestValidationError
    ) {
      return error.toResponse();
    }
    this.#report(error, `HTTP handler for "${route.path}"`, context);
    return new Response("Internal Server Error", {
      status: 500,
      headers: TEXT,
    });
  }

  #noHttpMatch(pathname: string): Response {
    const allow = this.allowedMethods(pathname);
    if (allow.length > 0) {
      return detail(405, "Method Not Allowed", { allow: allow.join(", ") });
    }
    if (this.matchWebSocket(pathname) !== null) {
      return detail(426, "Upgrade Required", {
        upgrade: "websocket",
        connection: "Upgrade",
      });
    }
    return detail(404, "Not Found");
  }
}
