/**
 * The application: routes requests, runs WebSocket handlers through the
 * handshake and turns their errors into what a client should see.
 *
 * @module
 */
import { HTTPException, RequestValidationError } from "./errors.ts";
import { type HttpRoute, type OriginPolicy, WebSocketRoute } from "./route.ts";
import { type FetchHandler, Router } from "./routing.ts";
import { type ConnectionApp, HTTPConnection } from "./connection.ts";
import { WebSocketState } from "./messages.ts";
import type { UpgradeFunction } from "./upgrade.ts";
import { WebSocket } from "./websocket.ts";
import type { DispatchContext } from "./_dispatch.ts";
import { TestServeInfo } from "./_test_serve_info.ts";
import { assertCloseFrame } from "./_close.ts";
import { DISPATCH, END } from "./_symbols.ts";
import {
  asksForWebSocket,
  invalidHandshake,
  normaliseOrigins,
  originRefusal,
} from "./_handshake.ts";
import { clientOf, denoUpgrade } from "./_deno.ts";
import { requestHeaders } from "./_headers.ts";
import {
  checkLimits,
  IDLE_TIMEOUT,
  MAX_MESSAGE_SIZE,
  MAX_QUEUED_BYTES,
  MAX_QUEUED_MESSAGES,
  SEND_HIGH_WATER_MARK,
} from "./_limits.ts";
import type { Dependency } from "./params.ts";
import { Solver } from "./_dependencies.ts";
import {
  cleanup,
  report,
  serveSession,
  type SessionContext,
  type SessionHost,
} from "./_session.ts";
import { accessLine, routeWhere } from "./_access_log.ts";
import type { ConnectionLimits } from "./limits.ts";
import type { Middleware } from "./middleware.ts";
import type { ConnectionObserver } from "./observer.ts";
import { Operations } from "./_operations.ts";

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
 *
 * @example One line per handshake refused and session ended
 * ```ts
 * import { App, type Logger } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const logger: Logger = { ...console, info: (line) => lines.push(String(line)) };
 * const app = new App({ logger });
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   for await (const text of ws.iterText()) await ws.sendText(text);
 * });
 * const client = new TestClient(app);
 * await client.websocketConnect("/nowhere").catch(() => {});
 * const session = await client.websocketConnect("/ws");
 * await session.close(4000, "done");
 * assert.match(lines[0], /refused: no route matches "\/nowhere": 403/);
 * assert.match(lines[1], /session ended: "\/ws" code 4000 "done"/);
 * ```
 */
export interface Logger {
  /** Unhandled errors. */
  error(...data: unknown[]): void;
  /** Refusals and misuse the app recovered from. */
  warn(...data: unknown[]): void;
  /**
   * The access log: one line per refused WebSocket handshake (the route, or
   * "no route", the status and the reason; refusals by middleware and
   * connection limits included) and per ended session (the route, the close
   * code and reason, the duration, and the messages and bytes each way). The
   * default logger has none: pass `logger: console` (or your own `info`) to
   * see them.
   *
   * @default {undefined}
   */
  info?(...data: unknown[]): void;
}

/**
 * Startup and shutdown code, as one async generator: what comes before its
 * `yield` runs once, before the first request is served (in each isolate
 * under `deno serve --parallel`); the object it yields becomes `app.state`;
 * what comes after the `yield` runs once `app.shutdown()` has closed every
 * socket and run every cleanup. A failing startup is logged and every
 * request gets 503.
 *
 * @example A database pool for the app's lifetime
 * ```ts
 * import { App, type Lifespan } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const events: string[] = [];
 * const lifespan: Lifespan = async function* () {
 *   events.push("startup");
 *   yield { pool: "db-pool" };
 *   events.push("shutdown");
 * };
 * const app = new App({ lifespan });
 * app.get("/", (_req) => String(app.state.pool));
 * assert.equal(await (await new TestClient(app).get("/")).text(), "db-pool");
 * await app.shutdown();
 * assert.deepEqual(events, ["startup", "shutdown"]);
 * ```
 */
export type Lifespan = (
  app: App,
) => AsyncGenerator<Record<string, unknown> | void, void, void>;

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
export interface AppOptions extends ConnectionLimits {
  /** Bytes; a larger incoming message closes the socket with 1009. @default {1048576} */
  maxMessageSize?: number;
  /** Messages received but not yet read by the handler; one more closes with 1008. @default {65536} */
  maxQueuedMessages?: number;
  /**
   * Memory, in bytes, that messages received but not yet read by the handler
   * may hold; more closes with 1008. A text counts 2 bytes per UTF-16 code
   * unit plus 32, bytes their length plus 224 (what V8 holds around them).
   * @default {4194304}
   */
  maxQueuedBytes?: number;
  /** Seconds without a pong before Deno closes the socket; 0 disables. @default {120} */
  idleTimeout?: number;
  /** Bytes buffered for a client before `send*()` waits for it to drain. @default {1048576} */
  sendHighWaterMark?: number;
  /** The upgrade function. @default {Deno.upgradeWebSocket} */
  upgrade?: UpgradeFunction;
  /**
   * Where errors and warnings go (and, if it has `info`, one line per
   * refused handshake and ended session).
   * @default {console's error and warn}
   */
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
  /** Startup and shutdown code; see {@linkcode Lifespan}. @default {none} */
  lifespan?: Lifespan;
  /**
   * How many reverse proxies in front of the app append to
   * `X-Forwarded-For`: the client address (for `maxConnectionsPerClient`)
   * is then read that many entries from its end. Only set it behind proxies
   * you run: a client can write anything in that header.
   *
   * @default {0: the header is ignored}
   */
  trustProxy?: number;
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

const NO_ARGS: Record<string, unknown> = Object.freeze({}) as Record<
  string,
  unknown
>;
const TEXT = { "content-type": "text/plain; charset=utf-8" };
const { CONNECTING, CONNECTED } = WebSocketState;

const DEFAULT_LOGGER: Logger = {
  error: (...data) => console.error(...data),
  warn: (...data) => console.warn(...data),
};

// How the log names a route and the path it matched.
function routeOf(route: WebSocketRoute, url: URL): string {
  return routeWhere(route.path, url.pathname);
}

function detail(status: number, text: string, headers?: HeadersInit): Response {
  return new HTTPException(status, text, headers).toResponse();
}

function toResponse(result: unknown): Response {
  if (result instanceof Response) return result;
  if (typeof result === "string") {
    return new Response(result, { headers: TEXT });
  }
  if (result === undefined) return new Response(null, { status: 204 });
  return Response.json(result);
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
export class App extends Router implements ConnectionApp {
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
  #maxQueuedBytes: number;
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
  // What the sessions of this app share with it (see _session.ts), and the
  // context of those whose errors go to the log.
  #host: SessionHost;
  #logContext: SessionContext;
  // Middleware, lifespan, connection limits and observers (_operations.ts).
  #ops: Operations;

  /**
   * Creates an application.
   *
   * @param options Limits, the upgrade function and the logger.
   * @throws {RangeError} If a limit is not a positive integer.
   */
  constructor(options: AppOptions = {}) {
    super({ dependencies: options.dependencies });
    checkLimits("create App", options);
    this.#maxMessageSize = options.maxMessageSize ?? MAX_MESSAGE_SIZE;
    this.#maxQueuedMessages = options.maxQueuedMessages ?? MAX_QUEUED_MESSAGES;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    this.#idleTimeout = options.idleTimeout ?? IDLE_TIMEOUT;
    this.#sendHighWaterMark = options.sendHighWaterMark ??
      SEND_HIGH_WATER_MARK;
    this.#upgrade = options.upgrade ?? denoUpgrade();
    // By default no `info`: a line per connection is for who asks for it.
    // (Through console at call time, so a test may stub it.)
    this.#logger = options.logger ?? DEFAULT_LOGGER;
    this.#allowedOrigins = normaliseOrigins(
      options.allowedOrigins,
      "create App",
    );
    this.#host = {
      logger: this.#logger,
      dependencyOverrides: this.dependencyOverrides,
      running: this.#running,
      shutdown: null,
      handlerFor: (error) => this.#handlerFor(error),
    };
    this.#logContext = { host: this.#host };
    this.#ops = new Operations(this, options, this.#host);
    // The test client serving an app that delegates to this one (Hono's
    // `wsapi.fetch(c.req.raw, c.env)`) passes its context in `info`.
    this.fetch = (request, info) =>
      info instanceof TestServeInfo
        ? this.#handle(request, info.take())
        : this.#handle(request, { client: clientOf(info), info });
  }

  /**
   * Serves one request in the given context (the test client's seam).
   *
   * @ignore
   */
  [DISPATCH](request: Request, context: DispatchContext): Promise<Response> {
    return this.#handle(request, context);
  }

  /**
   * What the lifespan yielded (an empty object without one, or before it
   * started); also `conn.app.state`.
   */
  get state(): Record<string, unknown> {
    return this.#ops.state;
  }

  /**
   * Adds a middleware, run for every HTTP request and WebSocket handshake,
   * before routing, in registration order; see {@linkcode Middleware}.
   *
   * @param middleware The middleware.
   * @returns This app.
   * @throws {TypeError} If it is not a function.
   *
   * @example A header on every response, the 101 included
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.use(async (_conn, next) => {
   *   const response = await next();
   *   response.headers.set("x-served-by", "wsapi");
   *   return response;
   * });
   * app.get("/", () => "ok");
   * app.websocket("/ws", (ws) => ws.accept());
   * const client = new TestClient(app);
   * assert.equal((await client.get("/")).headers.get("x-served-by"), "wsapi");
   * await using ws = await client.websocketConnect("/ws");
   * assert.equal(ws.responseHeaders.get("x-served-by"), "wsapi");
   * ```
   */
  // (Overrides Router.use: the app's chain runs before routing, a router's
  // after it.)
  override use(middleware: Middleware): this {
    this.#ops.use(middleware);
    return this;
  }

  /**
   * Registers an observer of handshakes and sessions (what `instrument()`
   * of `@wsapi/wsapi/otel` uses); see {@linkcode ConnectionObserver}.
   * Connections accepted from now on are observed.
   *
   * @param observer The observer.
   * @returns A function that unregisters it.
   * @throws {TypeError} If it is not an object.
   *
   * @example Logging every closed session's message count
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * const counts: number[] = [];
   * const app = new App();
   * app.observe({ accepted: () => ({ closed: (info) => counts.push(info.messagesReceived) }) });
   * app.websocket("/ws", async (ws) => {
   *   await ws.accept();
   *   await ws.receiveText();
   *   await ws.close();
   * });
   * const ws = await new TestClient(app).websocketConnect("/ws");
   * await ws.sendText("hi");
   * await ws.receiveText().catch(() => {});
   * await app.shutdown();
   * assert.deepEqual(counts, [1]);
   * ```
   */
  observe(observer: ConnectionObserver): () => void {
    return this.#ops.observe(observer);
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
   * its cleanup has finished (or after `timeoutMs`, with a warning), and
   * then the lifespan's shutdown code. HTTP requests are still served; stop
   * the server after this.
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
    this.#host.shutdown = { code, reason };
    const deadline = Date.now() + timeoutMs;
    while (this.#running.size > 0) {
      // Ended as if dropped, so a handler sees WebSocketDisconnect wherever
      // it is, never a "closed" misuse error for a close it did not make.
      for (const ws of this.#running.keys()) {
        ws[END](code, reason);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#logger.warn(
          `App.shutdown(): ${this.#running.size} WebSocket connection(s) still running after ${timeoutMs} ms`,
        );
        break;
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
    await this.#ops.finish();
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

  // Every request: through the lifespan's start and the app's middleware
  // when there is any (_operations.ts), then routing.
  #handle(request: Request, context: DispatchContext): Promise<Response> {
    const ops = this.#ops;
    if (!ops.active) return this.#route(request, context);
    return ops.handle(request, context, () => this.#route(request, context));
  }

  #route(request: Request, context: DispatchContext): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "GET") {
      // Read through headers the request does not hold, before anything
      // else reads it: a WebSocket keeps them (see _headers.ts).
      const headers = requestHeaders(request);
      if (asksForWebSocket(headers.get("upgrade"))) {
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
      return this.#internalError(
        context,
        error,
        `mounted handler for "${new URL(request.url).pathname}"`,
      );
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
    if (invalid !== null) {
      this.#refused(`"${url.pathname}"`, invalid.status, "invalid handshake");
      return Promise.resolve(invalid);
    }
    if (this.#host.shutdown !== null) {
      this.#refused(`"${url.pathname}"`, 503, "shutting down");
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
      const why = `no route matches "${url.pathname}"`;
      this.#refused(why, 403, "close 1000");
      context.onRefuse?.(1000, "", why);
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
      this.#refused(routeOf(route, url), 403, `Origin is ${refusal}`);
      this.#logger.warn(
        `Refused WebSocket upgrade to "${url.pathname}": Origin "${
          headers.get("origin")
        }" is ${refusal}: list it in allowedOrigins to accept it`,
      );
      return Promise.resolve(
        new Response("Origin not allowed", { status: 403, headers: TEXT }),
      );
    }
    if (route.middleware.length > 0) {
      return this.#routeMiddleware(
        route,
        found.params,
        url,
        headers,
        context,
        () =>
          this.#openWebSocket(
            route,
            found.params,
            request,
            headers,
            url,
            context,
          ),
      );
    }
    return this.#openWebSocket(
      route,
      found.params,
      request,
      headers,
      url,
      context,
    );
  }

  // Runs a route's middleware (its routers' first) around `inner`; what it
  // puts in `conn.state` reaches the handler's connection.
  #routeMiddleware(
    route: WebSocketRoute | HttpRoute,
    pathParams: Record<string, unknown>,
    url: URL,
    headers: Headers,
    context: DispatchContext,
    inner: () => Promise<Response>,
  ): Promise<Response> {
    const conn = new HTTPConnection({
      app: this,
      url,
      headers,
      client: context.client,
      pathParams,
      state: context.state,
    });
    context.state = conn.state;
    return this.#ops.chain(
      route.middleware,
      conn,
      context,
      inner,
      route instanceof WebSocketRoute ? routeOf(route, url) : null,
    );
  }

  // Builds the connection of a matched upgrade request and starts serving
  // it, once the connection limits admit it.
  #openWebSocket(
    route: WebSocketRoute,
    pathParams: Record<string, unknown>,
    request: Request,
    headers: Headers,
    url: URL,
    context: DispatchContext,
  ): Promise<Response> {
    const options = route.options;
    const admission = this.#ops.admit(route, url, headers, context);
    if (admission instanceof Response) return Promise.resolve(admission);
    const upgrade = context.upgrade ?? this.#upgrade;
    const record = context.handshake;
    const { promise, resolve } = Promise.withResolvers<Response>();
    const ws = new WebSocket({
      app: this,
      url,
      headers,
      client: context.client,
      pathParams,
      request,
      upgrade: admission === null
        ? upgrade
        : admission.upgrade(upgrade, record),
      state: context.state,
      maxMessageSize: options.maxMessageSize ?? this.#maxMessageSize,
      maxQueuedMessages: options.maxQueuedMessages ?? this.#maxQueuedMessages,
      maxQueuedBytes: options.maxQueuedBytes ?? this.#maxQueuedBytes,
      idleTimeout: options.idleTimeout ?? this.#idleTimeout,
      sendHighWaterMark: this.#sendHighWaterMark,
      protocol: options.protocol,
      onInvalid: options.onInvalid,
      // (Not for the test client's in-memory requests: Deno has no notice
      // to explain for them.)
      logger: context.upgrade === undefined ? this.#logger : undefined,
      respond: (handshake) => {
        const close = handshake.close;
        if (close !== undefined) {
          context.onRefuse?.(close.code, close.reason);
          if (record !== undefined) record.close = close;
        }
        // Accepted: the state moved before the upgrade response came here.
        if (ws.applicationState !== CONNECTED) {
          this.#refused(
            routeOf(route, url),
            handshake.response.status,
            close !== undefined
              ? `close ${close.code}${
                close.reason === "" ? "" : ` "${close.reason}"`
              }`
              : ws.applicationState === CONNECTING
              ? "the client left before the handshake was answered"
              : "denial response",
          );
        }
        resolve(handshake.response);
      },
    });
    if (record !== undefined) record.conn = ws;
    if (admission !== null) admission.ws = ws;
    // What the connection keeps of the context (not Deno's info).
    const done = serveSession(
      this.#sessionContext(context),
      route,
      ws,
      admission ?? undefined,
    );
    this.#running.set(ws, done);
    // Its limit counts go once the handler and the socket are done.
    if (admission !== null) done.then(() => admission.leave());
    context.onConnection?.(done);
    return promise;
  }

  // One line per refused handshake, for a logger that has `info`.
  #refused(where: string, status: number, why: string): void {
    this.#logger.info?.(
      accessLine({ kind: "refused", where, status, why }),
    );
  }

  // Where the errors of a request in `context` go.
  #sessionContext(context: DispatchContext): SessionContext {
    const onError = context.onError;
    return onError === undefined
      ? this.#logContext
      : { host: this.#host, onError };
  }

  // An error no handler answered: reported where `context` says, and never
  // shown to the client, who gets a bare 500.
  #internalError(
    context: DispatchContext,
    error: unknown,
    where: string,
  ): Response {
    report(this.#sessionContext(context), error, where);
    return new Response("Internal Server Error", {
      status: 500,
      headers: TEXT,
    });
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
    if (route.middleware.length > 0) {
      return await this.#routeMiddleware(
        route,
        found.params,
        url,
        request.headers,
        context,
        () => this.#serveHttp(route, found.params, request, url, context),
      );
    }
    return await this.#serveHttp(route, found.params, request, url, context);
  }

  async #serveHttp(
    route: HttpRoute,
    pathParams: Record<string, unknown>,
    request: Request,
    url: URL,
    context: DispatchContext,
  ): Promise<Response> {
    const method = request.method;
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
            pathParams,
            state: context.state,
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
      await cleanup(
        this.#sessionContext(context),
        solver,
        error,
        failed,
        route.path,
      );
    }
    if (failed || response === undefined) {
      response = await this.#onHttpError(
        route,
        request,
        url,
        pathParams,
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
        state: context.state,
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
    return this.#internalError(
      context,
      error,
      `HTTP handler for "${route.path}"`,
    );
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
