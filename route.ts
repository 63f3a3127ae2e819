/**
 * Routes: the WebSocket and HTTP routes a router holds, their handlers and
 * options. A route's FastAPI path template (`/items/{id:int}`) is compiled
 * once, when the route is created.
 *
 * @module
 */
import type { WebSocket } from "./websocket.ts";
import type { ArgsOf, Dependency, Params } from "./params.ts";
import type { InvalidMessagePolicy, Protocol } from "./protocol.ts";
import { checkDeclarations } from "./_dependencies.ts";
import { checkProtocolOptions } from "./_protocol_session.ts";
import { normaliseOrigins, type OriginPolicy } from "./_handshake.ts";
import { checkLimits } from "./_limits.ts";
import {
  type CompiledPath,
  compileTemplate,
  fromURLPattern,
} from "./_path_template.ts";
import type { PathParamsOf } from "./_path_types.ts";
import { COMPILED, SOURCE } from "./_symbols.ts";
import type { ConnectionLimits } from "./limits.ts";
import type { Middleware } from "./middleware.ts";

export type { OriginPolicy } from "./_handshake.ts";
export type { PathParamsOf } from "./_path_types.ts";

/**
 * Arguments a handler receives (filled from `params` declarations).
 *
 * @example Usage
 * ```ts
 * import type { HandlerArgs } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const args: HandlerArgs = { q: 1 };
 * assert.equal(args.q, 1);
 * ```
 */
export type HandlerArgs = Record<string, unknown>;

/**
 * Handles one WebSocket connection.
 *
 * @example Usage
 * ```ts
 * import { App, type WebSocketHandler } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const greet: WebSocketHandler = async (ws) => {
 *   await ws.accept();
 *   await ws.sendText("hello");
 * };
 * const app = new App().websocket("/ws", greet);
 * assert.equal(app.routes[0].handler, greet);
 * ```
 */
// (The protocol defaults to `any` for the reason given at WebSocket.)
export type WebSocketHandler<
  A = HandlerArgs,
  // deno-lint-ignore no-explicit-any
  Q extends Protocol = any,
  W = WebSocket<Q>,
> = (
  ws: W,
  args: A,
) => void | Promise<void>;

/**
 * The `WebSocket` a handler of template `T` receives: its `pathParams` typed
 * by {@linkcode PathParamsOf}. It is a `WebSocket` still (pass it wherever
 * one is expected).
 *
 * @typeParam T The route template.
 * @typeParam Q The route's message protocol, if it has one.
 *
 * @example A handler written apart from its route
 * ```ts
 * import { App, type WebSocketOf } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const ROUTE = "/ws/{client_id:int}";
 * async function handler(ws: WebSocketOf<typeof ROUTE>): Promise<void> {
 *   await ws.accept();
 *   await ws.sendJson({ next: ws.pathParams.client_id + 1 });
 * }
 * const app = new App().websocket(ROUTE, handler);
 * await using ws = await new TestClient(app).websocketConnect("/ws/41");
 * assert.deepEqual(await ws.receiveJson(), { next: 42 });
 * ```
 */
// deno-lint-ignore no-explicit-any
export type WebSocketOf<T extends string, Q extends Protocol = any> =
  string extends T ? WebSocket<Q>
    : WebSocket<Q> & { readonly pathParams: PathParamsOf<T> };

/**
 * Handles one HTTP request: a `Response`, a string (sent as text/plain) or
 * any other value (sent as JSON).
 *
 * @example Usage
 * ```ts
 * import { App, type HttpHandler } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const health: HttpHandler = () => ({ ok: true });
 * const app = new App().get("/health", health);
 * assert.deepEqual(await (await new TestClient(app).get("/health")).json(), { ok: true });
 * ```
 */
export type HttpHandler<A = HandlerArgs> = (
  request: Request,
  args: A,
) => unknown;

/**
 * A path template in FastAPI syntax, or a raw `URLPattern`.
 *
 * @example Usage
 * ```ts
 * import { App, type RoutePath } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const paths: RoutePath[] = ["/ws/{id:int}", new URLPattern({ pathname: "/raw/:name" })];
 * const app = new App();
 * for (const path of paths) app.websocket(path, async (ws) => await ws.accept());
 * assert.deepEqual(app.routes.map((route) => route.path), ["/ws/{id:int}", "/raw/:name"]);
 * ```
 */
export type RoutePath = string | URLPattern;

/**
 * Options of an HTTP route.
 *
 * @example Usage
 * ```ts
 * import { App, type HttpRouteOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: HttpRouteOptions = { name: "home" };
 * const app = new App().get("/", options, () => "home");
 * assert.equal(app.urlPathFor("home"), "/");
 * ```
 */
export interface HttpRouteOptions<P extends Params = Params> {
  /** A name for `urlPathFor()`. */
  name?: string;
  /** What the handler needs; it receives them, typed, as `args`. */
  params?: P;
  /** Dependencies run before the handler, for their effects. */
  dependencies?: readonly Dependency[];
  /** Middleware run after routing, before the handler (after the routers' own). @default {[]} */
  middleware?: readonly Middleware[];
}

/**
 * Options of a WebSocket route; the limits override the app's.
 *
 * @example Usage
 * ```ts
 * import { App, type WebSocketRouteOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: WebSocketRouteOptions = { name: "upload", maxMessageSize: 16 * 1024 * 1024 };
 * const app = new App().websocket("/upload", options, async (ws) => await ws.accept());
 * assert.equal(app.urlPathFor("upload"), "/upload");
 * ```
 */
export interface WebSocketRouteOptions<
  P extends Params = Params,
  // deno-lint-ignore no-explicit-any
  Q extends Protocol = any,
> extends ConnectionLimits {
  /** A name for `urlPathFor()` and `urlFor()`. */
  name?: string;
  /**
   * The route's message protocol (from `defineProtocol()`): it types and
   * validates `ws.messages()`, `ws.receiveMessage()` and `ws.emit()`.
   * Without one, those methods throw. @default {undefined}
   */
  protocol?: Q;
  /**
   * What an invalid protocol message gets: `"error"` answers with an `error`
   * message and goes on, `"close"` closes with 1007 (not JSON) or 1008.
   * Needs `protocol`. @default {"error"}
   */
  onInvalid?: InvalidMessagePolicy;
  /** What the handler needs; it receives them, typed, as `args`. */
  params?: P;
  /** Dependencies run before the handler, for their effects. */
  dependencies?: readonly Dependency[];
  /** Bytes; a larger message closes with 1009. @default {1048576} */
  maxMessageSize?: number;
  /** Unread messages; one more closes with 1008. @default {65536} */
  maxQueuedMessages?: number;
  /** Memory unread messages may hold, in bytes; more closes with 1008. @default {4194304} */
  maxQueuedBytes?: number;
  /** Seconds without a pong before the socket closes; 0 disables. @default {120} */
  idleTimeout?: number;
  /** Which origins may connect; overrides the app's `allowedOrigins`. */
  allowedOrigins?: OriginPolicy;
  /** Middleware run after routing, before the handler (after the routers' own). @default {[]} */
  middleware?: readonly Middleware[];
  /** A one-line summary for generated docs (AsyncAPI). */
  summary?: string;
  /** A longer description for generated docs (AsyncAPI, CommonMark). */
  description?: string;
  /** Tags that group the route in generated docs. */
  tags?: readonly string[];
  /** Whether generated docs list the route. @default {true} */
  includeInSchema?: boolean;
}

/**
 * A registered WebSocket route.
 *
 * @example Inspecting the routes of an app
 * ```ts
 * import { App, WebSocketRoute } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws/{room}", { name: "room" }, async (ws) => await ws.accept());
 * const route = app.routes[0];
 * assert.ok(route instanceof WebSocketRoute);
 * assert.equal(route.path, "/ws/{room}");
 * assert.equal(route.name, "room");
 * ```
 */
export class WebSocketRoute<
  P extends Params = Params,
  // deno-lint-ignore no-explicit-any
  Q extends Protocol = any,
> {
  /** The path template as written. */
  readonly path: string;
  /** The route name: the `name` option, else the handler's function name. */
  readonly name: string | undefined;
  /** The handler. */
  readonly handler: WebSocketHandler<ArgsOf<P>, Q>;
  /** The route's options. */
  readonly options: WebSocketRouteOptions<P, Q>;
  /** Dependencies run before the handler: app, include, router, then route level. */
  readonly dependencies: readonly Dependency[];
  /** Middleware run after routing: the including routers' (outermost first), then the route's. */
  readonly middleware: readonly Middleware[];
  /**
   * The compiled path, for matching and reversing.
   *
   * @ignore
   */
  readonly [COMPILED]: CompiledPath;
  /**
   * The path the route was created from, to re-compile it under a prefix.
   *
   * @ignore
   */
  readonly [SOURCE]: RoutePath;

  /**
   * Creates a route.
   *
   * @param path A template or `URLPattern`.
   * @param options Route options.
   * @param handler The handler.
   * @throws {TypeError} If the template is invalid.
   * @throws {RangeError} If a limit is not a positive integer (`idleTimeout`:
   * a whole number of seconds), as `App` checks its own.
   */
  constructor(
    path: RoutePath,
    options: WebSocketRouteOptions<P, Q>,
    handler: WebSocketHandler<ArgsOf<P>, Q>,
  ) {
    assertHandler(handler, path);
    const compiled = compilePath(path);
    checkProtocolOptions(compiled.template, options);
    this[COMPILED] = compiled;
    this[SOURCE] = path;
    this.path = compiled.template;
    checkLimits(`register route "${this.path}"`, options);
    this.name = options.name ?? (handler.name || undefined);
    this.handler = handler;
    this.dependencies = checkRoute(path, compiled, options);
    this.middleware = checkMiddleware(compiled, options);
    this.options = options.allowedOrigins === undefined ? options : {
      ...options,
      allowedOrigins: normaliseOrigins(
        options.allowedOrigins,
        `register route "${this.path}"`,
      ),
    };
  }
}

/**
 * A registered HTTP route.
 *
 * @example Inspecting the routes of an app
 * ```ts
 * import { App, HttpRoute } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.get("/", () => "home");
 * const route = app.routes[0];
 * assert.ok(route instanceof HttpRoute);
 * assert.deepEqual([...route.methods], ["GET"]);
 * ```
 */
export class HttpRoute<P extends Params = Params> {
  /** The path template as written. */
  readonly path: string;
  /** The methods served, upper case. */
  readonly methods: ReadonlySet<string>;
  /** The route name: the `name` option, else the handler's function name. */
  readonly name: string | undefined;
  /** The handler. */
  readonly handler: HttpHandler<ArgsOf<P>>;
  /** The route's options. */
  readonly options: HttpRouteOptions<P>;
  /** Dependencies run before the handler: app, include, router, then route level. */
  readonly dependencies: readonly Dependency[];
  /** Middleware run after routing: the including routers' (outermost first), then the route's. */
  readonly middleware: readonly Middleware[];
  /**
   * The compiled path, for matching and reversing.
   *
   * @ignore
   */
  readonly [COMPILED]: CompiledPath;
  /**
   * The path the route was created from, to re-compile it under a prefix.
   *
   * @ignore
   */
  readonly [SOURCE]: RoutePath;

  /**
   * Creates a route.
   *
   * @param methods HTTP methods.
   * @param path A template or `URLPattern`.
   * @param options Route options.
   * @param handler The handler.
   * @throws {TypeError} If the template or a method is invalid.
   */
  constructor(
    methods: readonly string[],
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ) {
    assertHandler(handler, path);
    const compiled = compilePath(path);
    this[COMPILED] = compiled;
    this[SOURCE] = path;
    this.path = compiled.template;
    this.methods = new Set(methods.map((method) => {
      if (typeof method !== "string" || !/^[A-Za-z]+$/.test(method)) {
        throw new TypeError(
          `Cannot register route "${this.path}": invalid HTTP method ${
            JSON.stringify(method)
          }`,
        );
      }
      return method.toUpperCase();
    }));
    this.dependencies = checkRoute(path, compiled, options);
    this.middleware = checkMiddleware(compiled, options);
    this.name = options.name ?? (handler.name || undefined);
    this.handler = handler;
    this.options = options;
  }
}

/**
 * The declarations of a route without `params`: its handler gets `{}`.
 *
 * @example
 * ```ts
 * import type { NoParams } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const none: NoParams = {};
 * assert.deepEqual(none, {});
 * ```
 */
export type NoParams = Record<never, never>;

/**
 * Any route.
 *
 * @example Usage
 * ```ts
 * import { App, type Route, WebSocketRoute } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/", () => "").websocket("/ws", async (ws) => await ws.accept());
 * const routes: readonly Route[] = app.routes;
 * assert.deepEqual(routes.map((route) => route instanceof WebSocketRoute), [false, true]);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type Route = WebSocketRoute<any> | HttpRoute<any>;

// Checks a route's declarations at registration; returns its dependencies.
function checkRoute(
  path: RoutePath,
  compiled: CompiledPath,
  options: { params?: Params; dependencies?: readonly Dependency[] },
): readonly Dependency[] {
  const dependencies = options.dependencies ?? [];
  if (!Array.isArray(dependencies)) {
    throw new TypeError(
      `Cannot register route "${compiled.template}": dependencies must be a list of Depends()`,
    );
  }
  checkDeclarations(
    options.params,
    dependencies,
    path instanceof URLPattern ? null : compiled.params.map((p) => p.name),
    `register route "${compiled.template}"`,
  );
  return dependencies;
}

// Checks a route's middleware list at registration.
function checkMiddleware(
  compiled: CompiledPath,
  options: { middleware?: readonly Middleware[] },
): readonly Middleware[] {
  const middleware = options.middleware ?? [];
  if (
    !Array.isArray(middleware) ||
    middleware.some((m) => typeof m !== "function")
  ) {
    throw new TypeError(
      `Cannot register route "${compiled.template}": middleware must be a list of functions (conn, next) => Response | void`,
    );
  }
  return middleware;
}

function compilePath(path: RoutePath): CompiledPath {
  return path instanceof URLPattern
    ? fromURLPattern(path)
    : compileTemplate(path);
}

function assertHandler(handler: unknown, path: RoutePath): void {
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot register route ${
        JSON.stringify(
          String(path instanceof URLPattern ? path.pathname : path),
        )
      }: the handler must be a function, got ${typeof handler}`,
    );
  }
}
