/**
 * Routers: groups of routes (see `route.ts`), included into each other
 * under prefixes, and the matching rules.
 *
 * Routes match in registration order. Paths without parameters are found
 * through a map; `URLPattern` runs only for parametrised routes registered
 * before the best static match.
 *
 * @module
 */
import { NoMatchFound } from "./errors.ts";
import type { ArgsOf, Dependency, Params } from "./params.ts";
import type { Protocol } from "./protocol.ts";
import {
  type HttpHandler,
  HttpRoute,
  type HttpRouteOptions,
  type NoParams,
  type Route,
  type RoutePath,
  type WebSocketHandler,
  type WebSocketOf,
  WebSocketRoute,
  type WebSocketRouteOptions,
} from "./route.ts";
import type { Middleware } from "./middleware.ts";
import { checkDeclarations } from "./_dependencies.ts";
import { escapePattern } from "./_path_template.ts";
import { COMPILED, SOURCE } from "./_symbols.ts";

/**
 * A route and the parameters it matched.
 *
 * @example Usage
 * ```ts
 * import { App, type RouteMatch, type WebSocketRoute } from "@wsapi/wsapi";
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

/**
 * Serves what `mount()` delegates: any `(request, info) => Response`, such as
 * a static file server or another framework's `fetch`.
 *
 * @example A handler
 * ```ts
 * import type { FetchHandler } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const handler: FetchHandler = () => new Response("ok");
 * assert.equal(await (await handler(new Request("http://x/"))).text(), "ok");
 * ```
 */
export type FetchHandler = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

/**
 * A handler mounted under a path prefix.
 *
 * @example What resolve() returns for a mount
 * ```ts
 * import { App, type Mount } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App().mount("/files", () => new Response("file"));
 * const mount: Mount | undefined = app.resolve("/files/a.txt", "GET")?.mount;
 * assert.equal(mount?.prefix, "/files");
 * ```
 */
export interface Mount {
  /** The prefix, e.g. `"/static"`; the handler gets `prefix` and everything under it. */
  readonly prefix: string;
  /** The handler; it receives the request unchanged. */
  readonly handler: FetchHandler;
}

/**
 * What serves a request: a route and its parameters, or a mount.
 *
 * @example Telling them apart
 * ```ts
 * import { App, type Resolution } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/a/{x}", () => "").mount("/b", () => new Response());
 * const a: Resolution | null = app.resolve("/a/1", "GET");
 * const b: Resolution | null = app.resolve("/b/1", "GET");
 * assert.deepEqual(a?.params, { x: "1" });
 * assert.equal(b?.mount?.prefix, "/b");
 * ```
 */
export type Resolution =
  | { route: Route; params: Record<string, unknown>; mount?: undefined }
  | { mount: Mount; route?: undefined; params?: undefined };

/**
 * Options of {@linkcode Router.include}.
 *
 * @example Including with a prefix
 * ```ts
 * import { App, type IncludeOptions, Router } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: IncludeOptions = { prefix: "/api" };
 * const app = new App().include(new Router().get("/items", () => []), options);
 * assert.equal(app.routes[0].path, "/api/items");
 * ```
 */
export interface IncludeOptions {
  /** Prepended to every path of the included router; starts with "/", does not end with "/". */
  prefix?: string;
  /** Dependencies run before every handler of the included router. */
  dependencies?: readonly Dependency[];
}

/**
 * Options of a {@linkcode Router}.
 *
 * @example A router with its own prefix
 * ```ts
 * import { type RouterOptions, Router } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: RouterOptions = { prefix: "/v1" };
 * const router = new Router(options).get("/items", () => []);
 * assert.equal(router.routes[0].path, "/v1/items");
 * ```
 */
export interface RouterOptions {
  /** Prepended to every path registered on this router. */
  prefix?: string;
  /** Dependencies run before every handler of this router. */
  dependencies?: readonly Dependency[];
}

// What a router holds, in registration order.
type Entry =
  | { kind: "route"; route: Route }
  | {
    kind: "include";
    router: Router;
    prefix: string;
    dependencies: readonly Dependency[];
  }
  | { kind: "mount"; mount: Mount };

// A matcher for the tables: a route's compiled path, or a mount's prefix.
interface Matcher {
  readonly staticPath: string | null;
  readonly prefix: string;
  match(pathname: string): Record<string, unknown> | null;
}

interface Indexed {
  target: Route | Mount;
  matcher: Matcher;
  index: number;
  // For an exact path: what find() returns, made once.
  resolution?: Resolution;
}

const NO_PARAMS: Record<string, unknown> = Object.freeze({}) as Record<
  string,
  unknown
>;
const NONE: readonly Indexed[] = [];

function mountMatcher(prefix: string): Matcher {
  const slash = prefix + "/";
  return {
    staticPath: null,
    // A mount matches its prefix as whole segments, so its first segment is
    // known even without a trailing "/".
    prefix: slash,
    match: (pathname) =>
      pathname === prefix || pathname.startsWith(slash) ? NO_PARAMS : null,
  };
}

function isRoute(target: Route | Mount): target is Route {
  return target instanceof WebSocketRoute || target instanceof HttpRoute;
}

// The first path segment of a pathname ("/a/b" gives "a"), or of a literal
// prefix when it is complete ("/a/{x}" gives "a", "/a{x}" and "/{x}" none).
function firstSegment(path: string, complete: boolean): string | null {
  const end = path.indexOf("/", 1);
  if (end !== -1) return path.slice(1, end);
  return complete ? path.slice(1) : null;
}

// Whether `target` serves `method` (null: a WebSocket upgrade).
function serves(
  target: Route | Mount,
  method: string | null,
  routesOnly: boolean,
): boolean {
  if (target instanceof HttpRoute) {
    return method !== null && target.methods.has(method);
  }
  if (target instanceof WebSocketRoute) return method === null;
  return !routesOnly;
}

// The lookup structure for one kind of request, rebuilt after registration:
// exact paths through a map; parametrised routes and mounts bucketed by their
// first literal segment (with a "wild" list for the rest), scanned in
// registration order behind a literal-prefix check (`CompiledPath.prefix`).
class RouteTable {
  readonly byPath = new Map<string, Indexed[]>();
  readonly bySegment = new Map<string, Indexed[]>();
  readonly wild: Indexed[] = [];
  // The registration index of the first parametrised route or mount: an
  // exact match registered before it wins without scanning them.
  #firstDynamic = Infinity;

  add(target: Route | Mount, matcher: Matcher, index: number): void {
    const entry: Indexed = { target, matcher, index };
    if (matcher.staticPath !== null) {
      entry.resolution = Object.freeze(resolution(target, NO_PARAMS));
      push(this.byPath, matcher.staticPath, entry);
      return;
    }
    this.#firstDynamic = Math.min(this.#firstDynamic, index);
    const segment = firstSegment(matcher.prefix, false);
    if (segment === null) this.wild.push(entry);
    else push(this.bySegment, segment, entry);
  }

  // The first entry in registration order that matches and serves `method`.
  find(
    pathname: string,
    method: string | null,
    routesOnly: boolean,
  ): Resolution | null {
    let best: Indexed | undefined;
    const candidates = this.byPath.get(pathname);
    if (candidates !== undefined) {
      for (const entry of candidates) {
        if (serves(entry.target, method, routesOnly)) {
          best = entry;
          break;
        }
      }
      if (best !== undefined && best.index < this.#firstDynamic) {
        return best.resolution!;
      }
    }
    const segment = firstSegment(pathname, true);
    const bucket =
      (segment === null ? undefined : this.bySegment.get(segment)) ??
        NONE;
    const wild = this.wild;
    // Merge the two lists by registration order; only entries registered
    // before the exact match can win over it.
    let i = 0;
    let j = 0;
    while (i < bucket.length || j < wild.length) {
      const entry = j >= wild.length ||
          (i < bucket.length && bucket[i].index < wild[j].index)
        ? bucket[i++]
        : wild[j++];
      if (best !== undefined && entry.index > best.index) break;
      if (!serves(entry.target, method, routesOnly)) continue;
      const params = entry.matcher.match(pathname);
      if (params !== null) return resolution(entry.target, params);
    }
    return best?.resolution ?? null;
  }
}

function push(map: Map<string, Indexed[]>, key: string, entry: Indexed): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [entry]);
  else list.push(entry);
}

function resolution(
  target: Route | Mount,
  params: Record<string, unknown>,
): Resolution {
  return isRoute(target) ? { route: target, params } : { mount: target };
}

// Everything a router serves, flattened in registration order (by
// Router.#flatten). Copies of included routes are kept from one build to the
// next, so that a route keeps its identity while nothing about it changes.
class RouterIndex {
  readonly routes: Route[] = [];
  readonly websockets = new RouteTable();
  readonly http = new RouteTable();
  readonly names = new Map<string, Route>();
  readonly copies: Copies = new Map();
  #count = 0;
  #previous: Copies;

  constructor(previous: RouterIndex | null) {
    this.#previous = previous?.copies ?? new Map();
  }

  addMount(mount: Mount): void {
    const index = this.#count++;
    const matcher = mountMatcher(mount.prefix);
    this.websockets.add(mount, matcher, index);
    this.http.add(mount, matcher, index);
  }

  addRoute(route: Route): void {
    const index = this.#count++;
    const matcher = route[COMPILED];
    this.routes.push(route);
    if (route instanceof WebSocketRoute) {
      this.websockets.add(route, matcher, index);
    } else this.http.add(route, matcher, index);
    if (route.name !== undefined && !this.names.has(route.name)) {
      this.names.set(route.name, route);
    }
  }

  // `route` under `prefix` with `chain` and `middleware` run first: the
  // copy the previous build made for the same, else a new one.
  copyOf(
    route: Route,
    prefix: string,
    chain: readonly Dependency[],
    middleware: readonly Middleware[],
  ): Route {
    const reuse = this.#previous.get(route)?.find((copy) =>
      copy.prefix === prefix && same(copy.chain, chain) &&
      same(copy.middleware, middleware)
    );
    const copy = reuse ?? {
      prefix,
      chain,
      middleware,
      route: withPrefix(route, prefix, chain, middleware),
    };
    const list = this.copies.get(route);
    if (list === undefined) this.copies.set(route, [copy]);
    else list.push(copy);
    return copy.route;
  }
}

// Per original route, the copies an index made of it under includes.
type Copies = Map<
  Route,
  {
    prefix: string;
    chain: readonly Dependency[];
    middleware: readonly Middleware[];
    route: Route;
  }[]
>;

function same(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

// A copy of `route` under `prefix`, with `dependencies` and `middleware` run
// before its own: templates are re-compiled with the prefix in front; a raw
// URLPattern gets it in its pathname.
function withPrefix(
  route: Route,
  prefix: string,
  dependencies: readonly Dependency[] = [],
  middleware: readonly Middleware[] = [],
): Route {
  const source = route[SOURCE];
  const path: RoutePath = source instanceof URLPattern
    ? new URLPattern({
      pathname: escapePattern(prefix) + source.pathname,
    })
    : prefix + source;
  let options = dependencies.length === 0 ? route.options : {
    ...route.options,
    dependencies: [...dependencies, ...route.dependencies],
  };
  if (middleware.length > 0) {
    options = { ...options, middleware: [...middleware, ...route.middleware] };
  }
  return route instanceof WebSocketRoute
    ? new WebSocketRoute(path, options, route.handler)
    : new HttpRoute([...route.methods], path, options, route.handler);
}

function assertPrefix(prefix: unknown, what: string): string {
  if (prefix === "") return prefix;
  if (typeof prefix !== "string" || !prefix.startsWith("/")) {
    throw new TypeError(
      `Cannot ${what}: prefix ${JSON.stringify(prefix)} must start with "/"`,
    );
  }
  if (prefix.endsWith("/")) {
    throw new TypeError(
      `Cannot ${what}: prefix "${prefix}" must not end with "/", as paths start with "/"`,
    );
  }
  if (/[{}]/.test(prefix)) {
    throw new TypeError(
      `Cannot ${what}: prefix "${prefix}" must be a plain path, without parameters`,
    );
  }
  return prefix;
}

/**
 * A group of routes, included into an app (or another router) with a prefix.
 * `App` is a `Router`. Routes and mounts match in registration order; routes
 * added to a router after it was included are served too.
 *
 * @example Registering and including routes
 * ```ts
 * import { App, Router } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const chat = new Router();
 * chat.websocket("/rooms/{room}", async (ws) => {
 *   await ws.accept();
 *   await ws.sendText(`joined ${ws.pathParams.room}`);
 * });
 * chat.get("/health", () => ({ ok: true }));
 * const app = new App();
 * app.include(chat, { prefix: "/chat" });
 * const client = new TestClient(app);
 * assert.deepEqual(await (await client.get("/chat/health")).json(), { ok: true });
 * await using ws = await client.websocketConnect("/chat/rooms/lobby");
 * assert.equal(await ws.receiveText(), "joined lobby");
 * ```
 */
export class Router {
  #entries: Entry[] = [];
  #prefix: string;
  #dependencies: readonly Dependency[];
  // Run after routing for this router's routes (see use()); replaced, never
  // changed in place, as route copies are kept by the list they were made
  // with. (An App keeps its own, run before routing, elsewhere.)
  #middleware: readonly Middleware[] = [];
  // Built on first use after a change of this router or of one it includes.
  #index: RouterIndex | null = null;
  // The routers that include this one, whose index a change here outdates.
  #includedBy: Router[] = [];

  /**
   * Creates a router.
   *
   * @param options A prefix for every path registered on it.
   * @throws {TypeError} If the prefix does not start with "/" or ends with "/".
   */
  constructor(options: RouterOptions = {}) {
    this.#prefix = assertPrefix(options.prefix ?? "", "create Router");
    const dependencies = options.dependencies ?? [];
    checkDeclarations(undefined, dependencies, null, "create Router");
    this.#dependencies = dependencies;
  }

  /**
   * Adds a middleware for this router's routes (and those of routers it
   * includes), run after routing, before the route's own; see
   * {@linkcode Middleware}. (`App.use` runs before routing, for every
   * request.)
   *
   * @param middleware The middleware.
   * @returns This router.
   * @throws {TypeError} If it is not a function.
   *
   * @example Guarding a group of routes
   * ```ts
   * import { App, Router } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * const admin = new Router().use((conn) => {
   *   if (conn.headers.get("x-admin") !== "yes") return new Response("admins only", { status: 403 });
   * });
   * admin.get("/stats", () => ({ ok: true }));
   * const app = new App().include(admin, { prefix: "/admin" });
   * app.get("/", () => "home");
   * const client = new TestClient(app);
   * assert.equal((await client.get("/admin/stats")).status, 403);
   * assert.equal((await client.get("/")).status, 200);
   * ```
   */
  use(middleware: Middleware): this {
    if (typeof middleware !== "function") {
      throw new TypeError(
        "Cannot add middleware: expected a function (conn, next) => Response | void",
      );
    }
    this.#middleware = [...this.#middleware, middleware];
    this.#changed();
    return this;
  }

  #current(): RouterIndex {
    let index = this.#index;
    if (index === null) {
      index = new RouterIndex(this.#previous);
      this.#flatten(index, "", [], []);
      this.#index = index;
      this.#previous = null;
    }
    return index;
  }

  // The last index built, whose copies of included routes a rebuild keeps.
  #previous: RouterIndex | null = null;

  // This router changed: its index, and that of every router including it,
  // is rebuilt on next use.
  #changed(): void {
    if (this.#index !== null) {
      this.#previous = this.#index;
      this.#index = null;
    }
    for (const parent of this.#includedBy) parent.#changed();
  }

  // Adds what this router serves to `index`, under `prefix`; `outer` are
  // the dependencies of everything above it (app, includes),
  // `outerMiddleware` the middleware of the routers above it.
  #flatten(
    index: RouterIndex,
    prefix: string,
    outer: readonly Dependency[],
    outerMiddleware: readonly Middleware[],
  ): void {
    const chain = outer.length === 0
      ? this.#dependencies
      : [...outer, ...this.#dependencies];
    const middleware = outerMiddleware.length === 0
      ? this.#middleware
      : [...outerMiddleware, ...this.#middleware];
    for (const entry of this.#entries) {
      if (entry.kind === "include") {
        entry.router.#flatten(index, prefix + entry.prefix, [
          ...chain,
          ...entry.dependencies,
        ], middleware);
      } else if (entry.kind === "mount") {
        index.addMount(
          prefix === "" ? entry.mount : {
            prefix: prefix + entry.mount.prefix,
            handler: entry.mount.handler,
          },
        );
      } else {
        index.addRoute(
          prefix === "" && chain.length === 0 && middleware.length === 0
            ? entry.route
            : index.copyOf(entry.route, prefix, chain, middleware),
        );
      }
    }
  }

  // Whether this router includes `target`, directly or not.
  #includes(target: Router): boolean {
    for (const entry of this.#entries) {
      if (
        entry.kind === "include" &&
        (entry.router === target || entry.router.#includes(target))
      ) return true;
    }
    return false;
  }

  /** Every route served, with prefixes applied, in registration order. */
  get routes(): readonly Route[] {
    return this.#current().routes;
  }

  /**
   * Adds a route (its path gets this router's prefix).
   *
   * @param route The route.
   * @returns This router.
   */
  add(route: Route): this {
    if (!isRoute(route)) {
      throw new TypeError(
        "Cannot add route: expected a WebSocketRoute or HttpRoute",
      );
    }
    this.#entries.push({
      kind: "route",
      route: this.#prefix === "" ? route : withPrefix(route, this.#prefix),
    });
    this.#changed();
    return this;
  }

  /**
   * Serves another router's routes under a prefix. Later additions to it are
   * served too.
   *
   * @param router The router to include.
   * @param options The prefix.
   * @returns This router.
   * @throws {TypeError} If the prefix is malformed or the inclusion would
   * make a cycle.
   */
  include(router: Router, options: IncludeOptions = {}): this {
    if (!(router instanceof Router)) {
      throw new TypeError("Cannot include: expected a Router");
    }
    const prefix = assertPrefix(options.prefix ?? "", "include router");
    if (router === this || router.#includes(this)) {
      throw new TypeError(
        "Cannot include router: it includes this router already, which would make a cycle",
      );
    }
    const dependencies = options.dependencies ?? [];
    checkDeclarations(undefined, dependencies, null, "include router");
    this.#entries.push({
      kind: "include",
      router,
      prefix: this.#prefix + prefix,
      dependencies,
    });
    router.#includedBy.push(this);
    this.#changed();
    return this;
  }

  /**
   * Delegates every request under `prefix` (WebSocket upgrades included) to
   * another handler, in registration order with the routes. The handler gets
   * the request unchanged, full path included: Deno cannot upgrade a copy of
   * a request, so it is not rewritten (use the handler's own base-path
   * option, e.g. `serveDir`'s `urlRoot`).
   *
   * @param prefix A path prefix such as `"/static"`.
   * @param handler The handler.
   * @returns This router.
   * @throws {TypeError} If the prefix is malformed or the handler is not a function.
   *
   * @example Mounting another handler
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.mount("/legacy", (request) => new Response(`legacy ${new URL(request.url).pathname}`));
   * const response = await new TestClient(app).get("/legacy/page");
   * assert.equal(await response.text(), "legacy /legacy/page");
   * ```
   */
  mount(prefix: string, handler: FetchHandler): this {
    assertPrefix(prefix, "mount");
    if (prefix === "") {
      throw new TypeError(
        'Cannot mount: prefix must not be empty: use "/path"',
      );
    }
    if (typeof handler !== "function") {
      throw new TypeError(
        `Cannot mount "${prefix}": the handler must be a function, got ${typeof handler}`,
      );
    }
    this.#entries.push({
      kind: "mount",
      mount: { prefix: this.#prefix + prefix, handler },
    });
    this.#changed();
    return this;
  }

  /**
   * Registers a WebSocket route.
   *
   * @param path A template (`/ws/{client_id:int}`) or `URLPattern`. A
   * literal template types `ws.pathParams` (`{ client_id: number }`).
   * @param handler Receives the connection.
   * @returns This router.
   * @throws {TypeError} If the template is invalid.
   */
  websocket<T extends string>(
    path: T | URLPattern,
    // deno-lint-ignore no-explicit-any
    handler: WebSocketHandler<ArgsOf<Params>, any, WebSocketOf<T>>,
  ): this;
  /**
   * Registers a WebSocket route with options.
   *
   * @param path A template (`/ws/{client_id:int}`) or `URLPattern`. A
   * literal template types `ws.pathParams` (`{ client_id: number }`).
   * @param options Name and per-route limits.
   * @param handler Receives the connection.
   * @returns This router.
   * @throws {TypeError} If the template is invalid.
   */
  websocket<
    T extends string,
    P extends Params = NoParams,
    // deno-lint-ignore no-explicit-any
    Q extends Protocol = any,
  >(
    path: T | URLPattern,
    options: WebSocketRouteOptions<P, Q>,
    handler: WebSocketHandler<ArgsOf<P>, Q, WebSocketOf<T, Q>>,
  ): this;
  websocket(
    path: RoutePath,
    optionsOrHandler:
      | WebSocketRouteOptions
      | WebSocketHandler<never, never, never>,
    maybeHandler?: WebSocketHandler<never, never, never>,
  ): this {
    const [options, handler]: [WebSocketRouteOptions, WebSocketHandler] =
      typeof optionsOrHandler === "function"
        ? [{}, optionsOrHandler as WebSocketHandler]
        : [optionsOrHandler ?? {}, maybeHandler as WebSocketHandler];
    return this.add(new WebSocketRoute(path, options, handler));
  }

  /**
   * Registers an HTTP route for the given methods.
   *
   * @param methods One method or several (`"GET"`, `["GET", "POST"]`).
   * @param path A template or `URLPattern`.
   * @param handler The handler.
   * @returns This router.
   */
  route(
    methods: string | readonly string[],
    path: RoutePath,
    handler: HttpHandler<ArgsOf<Params>>,
  ): this;
  /**
   * Registers an HTTP route for the given methods, with options: its name,
   * and the `params` its handler receives, typed, as `args`.
   *
   * @param methods One method or several.
   * @param path A template or `URLPattern`.
   * @param options Name, params and dependencies.
   * @param handler The handler.
   * @returns This router.
   */
  route<P extends Params = NoParams>(
    methods: string | readonly string[],
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ): this;
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
   * @param handler The handler.
   * @returns This router.
   */
  get(path: RoutePath, handler: HttpHandler<ArgsOf<Params>>): this;
  /**
   * Registers a GET route with options: its name, and the `params` its
   * handler receives, typed, as `args`.
   *
   * @param path A template or `URLPattern`.
   * @param options Name, params and dependencies.
   * @param handler The handler.
   * @returns This router.
   */
  get<P extends Params = NoParams>(
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ): this;
  get(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route(
      "GET",
      path,
      optionsOrHandler as HttpRouteOptions,
      maybeHandler!,
    );
  }

  /**
   * Registers a POST route.
   *
   * @param path A template or `URLPattern`.
   * @param handler The handler.
   * @returns This router.
   */
  post(path: RoutePath, handler: HttpHandler<ArgsOf<Params>>): this;
  /**
   * Registers a POST route with options: its name, and the `params` its
   * handler receives, typed, as `args`.
   *
   * @param path A template or `URLPattern`.
   * @param options Name, params and dependencies.
   * @param handler The handler.
   * @returns This router.
   */
  post<P extends Params = NoParams>(
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ): this;
  post(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route(
      "POST",
      path,
      optionsOrHandler as HttpRouteOptions,
      maybeHandler!,
    );
  }

  /**
   * Registers a PUT route.
   *
   * @param path A template or `URLPattern`.
   * @param handler The handler.
   * @returns This router.
   */
  put(path: RoutePath, handler: HttpHandler<ArgsOf<Params>>): this;
  /**
   * Registers a PUT route with options: its name, and the `params` its
   * handler receives, typed, as `args`.
   *
   * @param path A template or `URLPattern`.
   * @param options Name, params and dependencies.
   * @param handler The handler.
   * @returns This router.
   */
  put<P extends Params = NoParams>(
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ): this;
  put(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route(
      "PUT",
      path,
      optionsOrHandler as HttpRouteOptions,
      maybeHandler!,
    );
  }

  /**
   * Registers a PATCH route.
   *
   * @param path A template or `URLPattern`.
   * @param handler The handler.
   * @returns This router.
   */
  patch(path: RoutePath, handler: HttpHandler<ArgsOf<Params>>): this;
  /**
   * Registers a PATCH route with options: its name, and the `params` its
   * handler receives, typed, as `args`.
   *
   * @param path A template or `URLPattern`.
   * @param options Name, params and dependencies.
   * @param handler The handler.
   * @returns This router.
   */
  patch<P extends Params = NoParams>(
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ): this;
  patch(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route(
      "PATCH",
      path,
      optionsOrHandler as HttpRouteOptions,
      maybeHandler!,
    );
  }

  /**
   * Registers a DELETE route.
   *
   * @param path A template or `URLPattern`.
   * @param handler The handler.
   * @returns This router.
   */
  delete(path: RoutePath, handler: HttpHandler<ArgsOf<Params>>): this;
  /**
   * Registers a DELETE route with options: its name, and the `params` its
   * handler receives, typed, as `args`.
   *
   * @param path A template or `URLPattern`.
   * @param options Name, params and dependencies.
   * @param handler The handler.
   * @returns This router.
   */
  delete<P extends Params = NoParams>(
    path: RoutePath,
    options: HttpRouteOptions<P>,
    handler: HttpHandler<ArgsOf<P>>,
  ): this;
  delete(
    path: RoutePath,
    optionsOrHandler: HttpRouteOptions | HttpHandler,
    maybeHandler?: HttpHandler,
  ): this {
    return this.route(
      "DELETE",
      path,
      optionsOrHandler as HttpRouteOptions,
      maybeHandler!,
    );
  }

  /**
   * What serves a request to `pathname`: the first route or mount, in
   * registration order, for a WebSocket upgrade (`"websocket"`) or an HTTP
   * method (HEAD falls back to GET).
   *
   * @param pathname A URL path.
   * @param kind `"websocket"`, or an upper-case HTTP method.
   * @returns The route and its parameters, or the mount; `null` if none.
   *
   * @example Resolving a path
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.get("/items/{id:int}", () => "item");
   * assert.deepEqual(app.resolve("/items/7", "GET")?.params, { id: 7 });
   * assert.equal(app.resolve("/items/x", "GET"), null);
   * ```
   */
  resolve(pathname: string, kind: string): Resolution | null {
    const index = this.#current();
    if (kind === "websocket") {
      return index.websockets.find(pathname, null, false);
    }
    return index.http.find(pathname, kind, false) ??
      (kind === "HEAD" ? index.http.find(pathname, "GET", false) : null);
  }

  /**
   * The first WebSocket route matching `pathname`, mounts aside.
   *
   * @param pathname A URL path.
   * @returns The route and its parameters, or `null`.
   */
  matchWebSocket(pathname: string): RouteMatch<WebSocketRoute> | null {
    return this.#current().websockets.find(pathname, null, true) as
      | RouteMatch<WebSocketRoute>
      | null;
  }

  /**
   * The first HTTP route matching `pathname` and `method`, mounts aside
   * (HEAD falls back to GET).
   *
   * @param pathname A URL path.
   * @param method An upper-case HTTP method.
   * @returns The route and its parameters, or `null`.
   */
  matchHttp(pathname: string, method: string): RouteMatch<HttpRoute> | null {
    const table = this.#current().http;
    return (table.find(pathname, method, true) ??
      (method === "HEAD" ? table.find(pathname, "GET", true) : null)) as
        | RouteMatch<HttpRoute>
        | null;
  }

  /**
   * The methods of every HTTP route matching `pathname` (for `Allow`).
   *
   * @param pathname A URL path.
   * @returns The methods, sorted; empty when no HTTP route matches.
   */
  allowedMethods(pathname: string): string[] {
    const methods = new Set<string>();
    for (const route of this.#current().routes) {
      if (route instanceof HttpRoute && route[COMPILED].match(pathname)) {
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
   * import { App } from "@wsapi/wsapi";
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
    const compiled = route[COMPILED];
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
    return this.#current().names.get(name);
  }
}
