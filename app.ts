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
import { type HttpRoute, Router, WebSocketRoute } from "./routing.ts";
import {
  type UpgradeFunction,
  WebSocket,
  WebSocketState,
} from "./websocket.ts";
import { type DispatchContext, dispatchers } from "./_dispatch.ts";

/**
 * Where the app writes what went wrong.
 *
 * @example Capturing the log in a test
 * ```ts
 * import { App, type Logger } from "./mod.ts";
 * import { TestClient } from "./testing.ts";
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
 * import { App, type AppOptions } from "./mod.ts";
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
}

const { CONNECTING, CONNECTED } = WebSocketState;
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
 * import { App } from "./mod.ts";
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
 * import { App } from "./mod.ts";
 * import { TestClient } from "./testing.ts";
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
  #upgrade: UpgradeFunction;
  #logger: Logger;
  #connections = 0;

  /**
   * Creates an application.
   *
   * @param options Limits, the upgrade function and the logger.
   * @throws {RangeError} If a limit is not a positive integer.
   */
  constructor(options: AppOptions = {}) {
    super();
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
    this.fetch = (request, info) =>
      this.#handle(request, { client: clientOf(info) });
    dispatchers.set(this, (request, context) => this.#handle(request, context));
  }

  /** WebSocket connections being served: from the upgrade request until the handler has finished and the socket is closed. */
  get connections(): number {
    return this.#connections;
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
   * import { App } from "./mod.ts";
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
    const upgrade = request.headers.get("upgrade");
    if (
      upgrade !== null && request.method === "GET" &&
      WEBSOCKET_UPGRADE.test(upgrade)
    ) {
      return this.#handleWebSocket(request, url, context);
    }
    return this.#handleHttp(request, url, context);
  }

  #handleWebSocket(
    request: Request,
    url: URL,
    context: DispatchContext,
  ): Promise<Response> {
    const invalid = invalidHandshake(request.headers);
    if (invalid !== null) return Promise.resolve(invalid);
    const match = this.matchWebSocket(url.pathname);
    if (match === null) {
      // Starlette closes before accept with 1000: HTTP 403 on the wire.
      context.onRefuse?.(1000, "");
      return Promise.resolve(new Response(null, { status: 403 }));
    }
    const { route, params } = match;
    const options = route.options;
    const { promise, resolve } = Promise.withResolvers<Response>();
    const ws = new WebSocket({
      app: this,
      url,
      // Deno drops request headers at the upgrade: keep a copy.
      headers: new Headers(request.headers),
      client: context.client,
      pathParams: params,
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
    const done = this.#serveWebSocket(route, ws, context);
    context.onConnection?.(done);
    return promise;
  }

  async #serveWebSocket(
    route: WebSocketRoute,
    ws: WebSocket,
    context: DispatchContext,
  ): Promise<void> {
    this.#connections++;
    try {
      try {
        await route.handler(ws, {});
      } catch (error) {
        await this.#onWebSocketError(route, ws, error, context);
      }
      // Finish what the handler left open.
      if (ws.applicationState === CONNECTING) {
        this.#logger.warn(
          `WebSocket handler for "${route.path}" returned without calling accept() or close(): the handshake was refused with 403`,
        );
        await ws.close(1000);
      } else if (ws.applicationState === CONNECTED) {
        await ws.close(1000);
      }
      await ws.closed;
    } finally {
      this.#connections--;
    }
  }

  async #onWebSocketError(
    route: WebSocketRoute,
    ws: WebSocket,
    error: unknown,
    context: DispatchContext,
  ): Promise<void> {
    // The client left and the handler let the disconnect through: a normal end.
    if (error instanceof WebSocketDisconnect) return;
    const state = ws.applicationState;
    const open = state === CONNECTING || state === CONNECTED;
    if (
      error instanceof WebSocketException ||
      error instanceof WebSocketRequestValidationError
    ) {
      if (!open) return;
      try {
        await ws.close(error.code, error.reason);
        return;
      } catch (closeError) {
        // An invalid code or reason in the exception: report that instead.
        error = closeError;
      }
    } else if (error instanceof HTTPException && state === CONNECTING) {
      await ws.sendDenialResponse(error.toResponse());
      return;
    }
    if (context.onError !== undefined) context.onError(error);
    else {
      this.#logger.error(
        `Unhandled error in WebSocket handler for "${route.path}":`,
        error,
      );
    }
    // Never the error's own message: close reasons reach untrusted clients.
    if (ws.applicationState === CONNECTING) {
      await ws.sendDenialResponse(
        new Response("Internal Server Error", { status: 500, headers: TEXT }),
      );
    } else if (ws.applicationState === CONNECTED) {
      await ws.close(1011, "Internal Server Error");
    }
  }

  async #handleHttp(
    request: Request,
    url: URL,
    context: DispatchContext,
  ): Promise<Response> {
    const method = request.method;
    const match = this.matchHttp(url.pathname, method);
    if (match === null) return this.#noHttpMatch(url.pathname);
    let response: Response;
    try {
      response = toResponse(await match.route.handler(request, {}));
    } catch (error) {
      if (
        error instanceof HTTPException ||
        error instanceof RequestValidationError
      ) {
        return error.toResponse();
      }
      this.#reportHttp(match.route, error, context);
      return new Response("Internal Server Error", {
        status: 500,
        headers: TEXT,
      });
    }
    if (method === "HEAD" && response.body !== null) {
      await response.body.cancel();
      return new Response(null, response);
    }
    return response;
  }

  #reportHttp(route: HttpRoute, error: unknown, context: DispatchContext) {
    if (context.onError !== undefined) context.onError(error);
    else {
      this.#logger.error(
        `Unhandled error in HTTP handler for "${route.path}":`,
        error,
      );
    }
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
