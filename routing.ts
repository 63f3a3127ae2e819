/**
 * Routes and routers: FastAPI path templates (`/items/{id:int}`) compiled
 * once to `URLPattern`, WebSocket and HTTP routes, and the matching rules.
 *
 * Routes match in registration order. Paths without parameters are found
 * through a map; `URLPattern` runs only for parametrised routes registered
 * before the best static match.
 *
 * @module
 */
import type { WebSocket } from "./websocket.ts";
import { NoMatchFound } from "./errors.ts";
import {
  type CompiledPath,
  compileTemplate,
  fromURLPattern,
} from "./_path_template.ts";

/**
 * Arguments a handler receives (filled from `params` declarations).
 *
 * @example Usage
 * ```ts
 * import type { HandlerArgs } from "./mod.ts";
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
 * import { App, type WebSocketHandler } from "./mod.ts";
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
export type WebSocketHandler = (
  ws: WebSocket,
  args: HandlerArgs,
) => void | Promise<void>;

/**
 * Handles one HTTP request: a `Response`, a string (sent as text/plain) or
 * any other value (sent as JSON).
 *
 * @example Usage
 * ```ts
 * import { App, type HttpHandler } from "./mod.ts";
 * import { TestClient } from "./testing.ts";
 * import assert from "node:assert/strict";
 *
 * const health: HttpHandler = () => ({ ok: true });
 * const app = new App().get("/health", health);
 * assert.deepEqual(await (await new TestClient(app).get("/health")).json(), { ok: true });
 * ```
 */
export type HttpHandler = (
  request: Request,
  args: HandlerArgs,
) => unknown;

/**
 * A path template in FastAPI syntax, or a raw `URLPattern`.
 *
 * @example Usage
 * ```ts
 * import { App, type RoutePath } from "./mod.ts";
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
 * import { App, type HttpRouteOptions } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const options: HttpRouteOptions = { name: "home" };
 * const app = new App().get("/", options, () => "home");
 * assert.equal(app.urlPathFor("home"), "/");
 * ```
 */
export interface HttpRouteOptions {
  /** A name for `urlPathFor()`. */
  name?: string;
}

/**
 * Options of a WebSocket route; the limits override the app's.
 *
 * @example Usage
 * ```ts
 * import { App, type WebSocketRouteOptions } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const options: WebSocketRouteOptions = { name: "upload", maxMessageSize: 16 * 1024 * 1024 };
 * const app = new App().websocket("/upload", options, async (ws) => await ws.accept());
 * assert.equal(app.urlPathFor("upload"), "/upload");
 * ```
 */
export interface WebSocketRouteOptions {
  /** A name for `urlPathFor()` and `urlFor()`. */
  name?: string;
  /** Bytes; a larger message closes with 1009. @default {1048576} */
  maxMessageSize?: number;
  /** Unread messages; one more closes with 1008. @default {1024} */
  maxQueuedMessages?: number;
  /** Seconds without a pong before the socket closes; 0 disables. @default {120} */
  idleTimeout?: number;
}

/**
 * A registered WebSocket route.
 *
 * @example Inspecting the routes of an app
 * ```ts
 * import { App, WebSocketRoute } from "./mod.ts";
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
export class WebSocketRoute {
  /** The path template as written. */
  readonly path: string;
  /** The route name: the `name` option, else the handler's function name. */
  readonly name: string | undefined;
  /** The handler. */
  readonly handler: WebSocketHandler;
  /** The route's options. */
  readonly options: WebSocketRouteOptions;

  /**
   * Creates a route.
   *
   * @param path A template or `URLPattern`.
   * @param options Route options.
   * @param handler The handler.
   * @throws {TypeError} If the template is invalid.
   */
  constructor(
    path: RoutePath,
    options: WebSocketRouteOptions,
    handler: WebSocketHandler,
  ) {
    assertHandler(handler, path);
    const compiled = compilePath(path);
    COMPILED.set(this, compiled);
    this.path = compiled.template;
    this.name = options.name ?? (handler.name || undefined);
    this.handler = handler;
    this.options = options;
  }
}

/**
 * A registered HTTP route.
 *
 * @example Inspecting the routes of an app
 * ```ts
 * import { App, HttpRoute } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.get("/", () => "home");
 * const route = app.routes[0];
 * assert.ok(route instanceof HttpRoute);
 * assert.deepEqual([...route.methods], ["GET"]);
 * ```
 */
export class HttpRoute {
  /** The path template as written. */
  readonly path: string;
  /** The methods served, upper case. */
  readonly methods: ReadonlySet<string>;
  /** The route name: the `name` option, else the handler's function name. */
  readonly name: string | undefined;
  /** The handler. */
  readonly handler: HttpHandler;
  /** The route's options. */
  readonly options: HttpRouteOptions;

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
    options: HttpRouteOptions,
    handler: HttpHandler,
  ) {
    assertHandler(handler, path);
    const compiled = compilePath(path);
    COMPILED.set(this, compiled);
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
    this.name = options.name ?? (handler.name || undefined);
    this.handler = handler;
    this.options = options;
  }
}

/**
 * Any route.
 *
 * @example Usage
 * ```ts
 * import { App, type Route, WebSocketRoute } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/", () => "").websocket("/ws", async (ws) => await ws.accept());
 * const routes: readonly Route[] = app.routes;
 * assert.deepEqual(routes.map((route) => route instanceof WebSocketRoute), [false, true]);
 * ```
 */
export type Route = WebSocketRoute | HttpRoute;

// Each route's compiled path, kept off the public classes. Matching does not
// look here: the route tables cache it beside each route.
const COMPILED = new WeakMap<Route, CompiledPath>();

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

/**
 * A route and the parameters it matched.
 *
 * @example Usage
 * ```ts
 * import { App, type RouteMatch, type WebSocketRoute } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const app = new App().websocket("/rooms/{room}", async (ws) => await ws.accept());
 * const match: RouteMatch<WebSocketRoute> | null = app.matchWebSocket("/rooms/lobby");
 * assert.deepEqual(match?.params, { room: "lobby" });
 * ```
 */
export interface RouteMatch<R extends Route> {
  /** The route. */
  route: R;
  /** Converted path parameters. */
  params: Record<string, unknown>;
}

interface Indexed<R extends Route> {
  route: R;
  compiled: CompiledPath;
  index: number;
}

// The lookup structures for one kind of route, rebuilt after registration.
class RouteTable<R extends Route> {
  readonly byPath = new Map<string, Indexed<R>[]>();
  readonly dynamic: Indexed<R>[] = [];

  add(route: R, index: number): void {
    const compiled = COMPILED.get(route)!;
    const entry = { route, compiled, index };
    const staticPath = compiled.staticPath;
    if (staticPath === null) {
      this.dynamic.push(entry);
      return;
    }
    const list = this.byPath.get(staticPath);
    if (list === undefined) this.byPath.set(staticPath, [entry]);
    else list.push(entry);
  }

  // The first route in registration order that matches and passes `accept`.
  find(
    pathname: string,
    accept: (route: R) => boolean,
  ): RouteMatch<R> | null {
    let best: Indexed<R> | undefined;
    const candidates = this.byPath.get(pathname);
    if (candidates !== undefined) {
      for (const entry of candidates) {
        if (accept(entry.route)) {
          best = entry;
          break;
        }
      }
    }
    // Only parametrised routes registered before the static match can win.
    for (const entry of this.dynamic) {
      if (best !== undefined && entry.index > best.index) break;
      if (!accept(entry.route)) continue;
      const params = entry.compiled.match(pathname);
      if (params !== null) return { route: entry.route, params };
    }
    return best === undefined ? null : { route: best.route, params: {} };
  }
}

const ANY = (): boolean => true;

/**
 * A group of routes. `App` is a `Router`; routes are matched in
 * registration order.
 *
 * @example Registering routes
 * ```ts
 * import { Router } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const router = new Router();
 * router.websocket("/ws", async (ws) => await ws.accept());
 * router.get("/health", () => ({ ok: true }));
 * assert.equal(router.routes.length, 2);
 * ```
 */
export class Router {
  #routes: Route[] = [];
  #websockets: RouteTable<WebSocketRoute> | null = null;
  #http: RouteTable<HttpRoute> | null = null;
  #names: Map<string, Route> | null = null;

  /** The routes, in registration order. */
  get routes(): readonly Route[] {
    return this.#routes;
  }

  /**
   * Adds a route.
   *
   * @param route The route.
   * @returns This router.
   */
  add(route: Route): this {
    this.#routes.push(route);
    this.#websockets = null;
    this.#http = null;
    this.#names = null;
    return this;
  }

  /**
   * Registers a WebSocket route.
   *
   * @param path A template (`/ws/{client_id:int}`) or `URLPattern`.
   * @param handler Receives the connection.
   * @returns This router.
   * @throws {TypeError} If the template is invalid.
   */
  websocket(path: RoutePath, handler: WebSocketHandler): this;
  /**
   * Registers a WebSocket route with options.
   *
   * @param path A template (`/ws/{client_id:int}`) or `URLPattern`.
   * @param options Name and per-route limits.
   * @param handler Receives the connection.
   * @returns This router.
   * @throws {TypeError} If the template is invalid.
   */
  websocket(
    path: RoutePath,
    options: WebSocketRouteOptions,
    handler: WebSocketHandler,
  ): this;
  websocket(
    path: RoutePath,
    optionsOrHandler: WebSocketRouteOptions | WebSocketHandler,
    maybeHandler?: WebSocketHandler,
  ): this {
    const [options, handler]: [WebSocketRouteOptions, WebSocketHandler] =
      typeof optionsOrHandler === "function"
        ? [{}, optionsOrHandler as WebSocketHandler]
        : [optionsOrHandler ?? {}, maybeHandler!];
    return this.add(new WebSocketRoute(path, options, handler));
  }

  /**
   * Registers an HTTP route for the given methods.
   *
   * @param methods One method or several (`"GET"`, `["GET", "POST"]`).
   * @param path A template or `URLPattern`.
   * @param optionsOrHandler Options, or the handler.
   * @param maybeHandler The handler, when options were given.
   * @returns This router.
   */
  route(
    methods: string | readonly string[],
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    const [options, handler]: [HttpRouteOptions, HttpHandler] =
      typeof optionsOrHandler === "function"
        ? [{}, optionsOrHandler as HttpHandler]
        : [optionsOrHandler ?? {}, maybeHandler!];
    const list = typeof methods === "string" ? [methods] : methods;
    return this.add(new HttpRoute(list, path, options, handler));
  }

  /**
   * Registers a GET route (also answering HEAD).
   *
   * @param path A template or `URLPattern`.
   * @param optionsOrHandler Options, or the handler.
   * @param maybeHandler The handler, when options were given.
   * @returns This router.
   */
  get(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route("GET", path, optionsOrHandler, maybeHandler);
  }

  /**
   * Registers a POST route.
   *
   * @param path A template or `URLPattern`.
   * @param optionsOrHandler Options, or the handler.
   * @param maybeHandler The handler, when options were given.
   * @returns This router.
   */
  post(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route("POST", path, optionsOrHandler, maybeHandler);
  }

  /**
   * Registers a PUT route.
   *
   * @param path A template or `URLPattern`.
   * @param optionsOrHandler Options, or the handler.
   * @param maybeHandler The handler, when options were given.
   * @returns This router.
   */
  put(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route("PUT", path, optionsOrHandler, maybeHandler);
  }

  /**
   * Registers a PATCH route.
   *
   * @param path A template or `URLPattern`.
   * @param optionsOrHandler Options, or the handler.
   * @param maybeHandler The handler, when options were given.
   * @returns This router.
   */
  patch(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route("PATCH", path, optionsOrHandler, maybeHandler);
  }

  /**
   * Registers a DELETE route.
   *
   * @param path A template or `URLPattern`.
   * @param optionsOrHandler Options, or the handler.
   * @param maybeHandler The handler, when options were given.
   * @returns This router.
   */
  delete(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route("DELETE", path, optionsOrHandler, maybeHandler);
  }

  /**
   * The first WebSocket route matching `pathname`.
   *
   * @param pathname A URL path.
   * @returns The route and its parameters, or `null`.
   */
  matchWebSocket(pathname: string): RouteMatch<WebSocketRoute> | null {
    return this.#websocketTable().find(pathname, ANY);
  }

  /**
   * The first HTTP route matching `pathname` and `method` (HEAD falls back to
   * GET).
   *
   * @param pathname A URL path.
   * @param method An upper-case HTTP method.
   * @returns The route and its parameters, or `null`.
   */
  matchHttp(pathname: string, method: string): RouteMatch<HttpRoute> | null {
    const table = this.#httpTable();
    const found = table.find(pathname, (route) => route.methods.has(method));
    if (found !== null || method !== "HEAD") return found;
    return table.find(pathname, (route) => route.methods.has("GET"));
  }

  /**
   * The methods of every HTTP route matching `pathname` (for `Allow`).
   *
   * @param pathname A URL path.
   * @returns The methods, sorted; empty when no HTTP route matches.
   */
  allowedMethods(pathname: string): string[] {
    const methods = new Set<string>();
    for (const route of this.#routes) {
      if (route instanceof HttpRoute && COMPILED.get(route)!.match(pathname)) {
        for (const method of route.methods) methods.add(method);
      }
    }
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort();
  }

  /**
   * Builds the path of a named route.
   *
   * @param name The route's name.
   * @param params Its path parameters: exactly the template's names.
   * @returns The path, with values percent-encoded.
   * @throws {NoMatchFound} If no route has that name and those parameter names.
   * @throws {TypeError} If a value does not fit its converter.
   *
   * @example Reversing a route
   * ```ts
   * import { App } from "./mod.ts";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.websocket("/rooms/{room}/ws/{id:int}", { name: "room" }, async (ws) => await ws.accept());
   * assert.equal(app.urlPathFor("room", { room: "a b", id: 7 }), "/rooms/a%20b/ws/7");
   * ```
   */
  urlPathFor(name: string, params: Record<string, unknown> = {}): string {
    const route = this.routeNamed(name);
    const given = Object.keys(params);
    if (route === undefined) throw new NoMatchFound(name, given);
    const compiled = COMPILED.get(route)!;
    const expected = compiled.params;
    if (
      given.length !== expected.length ||
      !expected.every((param) => Object.hasOwn(params, param.name))
    ) {
      throw new NoMatchFound(name, given);
    }
    return compiled.format(params);
  }

  /**
   * The route registered under `name`.
   *
   * @param name A route name.
   * @returns The first route with that name, or `undefined`.
   */
  routeNamed(name: string): Route | undefined {
    if (this.#names === null) {
      this.#names = new Map();
      for (const route of this.#routes) {
        if (route.name !== undefined && !this.#names.has(route.name)) {
          this.#names.set(route.name, route);
        }
      }
    }
    return this.#names.get(name);
  }

  #websocketTable(): RouteTable<WebSocketRoute> {
    if (this.#websockets === null) {
      const table = new RouteTable<WebSocketRoute>();
      this.#routes.forEach((route, index) => {
        if (route instanceof WebSocketRoute) table.add(route, index);
      });
      this.#websockets = table;
    }
    return this.#websockets;
  }

  #httpTable(): RouteTable<HttpRoute> {
    if (this.#http === null) {
      const table = new RouteTable<HttpRoute>();
      this.#routes.forEach((route, index) => {
        if (route instanceof HttpRoute) table.add(route, index);
      });
      this.#http = table;
    }
    return this.#http;
  }
}
