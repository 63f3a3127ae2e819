/**
 * {@linkcode HTTPConnection}: what HTTP requests and WebSockets share, so a
 * dependency that takes one works for both.
 *
 * @module
 */
import { parseCookies } from "./_cookies.ts";
import { packHeaders, unpackHeaders } from "./_headers.ts";
import { DEFER_URL, PACK_HEADERS } from "./_symbols.ts";

/**
 * What a connection reaches of the application that serves it: the state
 * its lifespan yielded, and reverse routing. At run time `conn.app` is the
 * `App` itself, which implements this interface. The field is typed by it,
 * not by `App`, because `App` builds connections: naming `App` here would
 * make `connection.ts` and `app.ts` import each other.
 *
 * @example Reverse routing from a handler
 * ```ts
 * import { App, type ConnectionApp } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/rooms/{room}", { name: "room" }, async (ws) => {
 *   const serving: ConnectionApp = ws.app;
 *   await ws.accept();
 *   await ws.sendText(serving.urlPathFor("room", { room: "b" }));
 * });
 * await using session = await new TestClient(app).websocketConnect("/rooms/a");
 * assert.equal(await session.receiveText(), "/rooms/b");
 * ```
 */
export interface ConnectionApp {
  /** What the lifespan yielded; an empty object without one. */
  readonly state: Record<string, unknown>;
  /**
   * The path of a named route.
   *
   * @throws {NoMatchFound} If no route has that name and those parameter names.
   */
  urlPathFor(name: string, params?: Record<string, unknown>): string;
  /**
   * The URL of a named route on the origin of `base` (`ws:`/`wss:` for a
   * WebSocket route).
   *
   * @throws {NoMatchFound} If no route has that name and those parameter names.
   */
  urlFor(
    name: string,
    params: Record<string, unknown>,
    base: URL | string,
  ): URL;
}

/**
 * What an {@linkcode HTTPConnection} is built from.
 *
 * @example Building a connection by hand
 * ```ts
 * import { App, HTTPConnection, type HTTPConnectionInit } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const init: HTTPConnectionInit = {
 *   app: new App(),
 *   url: new URL("http://localhost/items?q=1"),
 *   headers: new Headers({ cookie: "a=1" }),
 * };
 * const conn = new HTTPConnection(init);
 * assert.equal(conn.queryParams.get("q"), "1");
 * assert.equal(conn.cookies.a, "1");
 * ```
 */
export interface HTTPConnectionInit {
  /** The application serving the connection. */
  app: ConnectionApp;
  /** The request URL. */
  url: URL;
  /**
   * The request headers. A `WebSocket` reads them all before the upgrade
   * (Deno drops a request's headers at the upgrade unless they were read).
   */
  headers: Headers;
  /** The peer's address, when known. */
  client?: { hostname: string; port: number } | null;
  /** Converted path parameters. */
  pathParams?: Record<string, unknown>;
  /** The initial `state` (what middleware set). @default {a new, empty object on first use} */
  state?: Record<string, unknown>;
}

/**
 * What HTTP requests and WebSockets share: a dependency that takes an
 * `HTTPConnection` works for both.
 *
 * Headers, cookies and the client address are read before the upgrade (Deno
 * drops them afterwards); query parameters and cookies are parsed on first
 * use.
 *
 * @example Reading the request from a handler
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   await ws.sendJson({
 *     q: ws.queryParams.get("q"),
 *     agent: ws.headers.get("user-agent"),
 *     session: ws.cookies.session,
 *   });
 *   await ws.close();
 * });
 * await using session = await new TestClient(app).websocketConnect("/ws?q=1", {
 *   cookies: { session: "abc" },
 * });
 * assert.deepEqual(await session.receiveJson(), {
 *   q: "1",
 *   agent: "testclient",
 *   session: "abc",
 * });
 * ```
 */
export class HTTPConnection {
  /** Converted path parameters (`{id:int}` gives a number). */
  readonly pathParams: Record<string, unknown>;
  /** The peer's address, or `null` when the server gives none. */
  readonly client: { hostname: string; port: number } | null;
  /** The application serving this connection (the `App` itself). */
  readonly app: ConnectionApp;
  // For a WebSocket, its URL's text until first use: an idle connection
  // keeps no URL object.
  #url: URL | string;
  // For an open WebSocket, packed until first read (see _headers.ts).
  #headers: Headers | string;
  #cookies: Record<string, string> | undefined;
  #state: Record<string, unknown> | undefined;

  /**
   * Builds a connection; applications receive them from the router.
   *
   * @param init What the connection is built from.
   */
  constructor(init: HTTPConnectionInit) {
    this.app = init.app;
    this.#url = init.url;
    this.#headers = init.headers;
    this.client = init.client ?? null;
    this.pathParams = init.pathParams ?? {};
    this.#state = init.state;
  }

  /** @ignore */
  [DEFER_URL](): void {
    this.#url = (this.#url as URL).href;
  }

  /** @ignore */
  [PACK_HEADERS](): void {
    const headers = this.#headers;
    if (typeof headers !== "string") this.#headers = packHeaders(headers);
  }

  /** The request URL (`ws:`/`wss:` for a WebSocket). */
  get url(): URL {
    const url = this.#url;
    if (typeof url !== "string") return url;
    // Parsed once, with the WebSocket scheme (setting `protocol` reparses).
    return this.#url = new URL(
      url.startsWith("http:")
        ? "ws:" + url.slice(5)
        : url.startsWith("https:")
        ? "wss:" + url.slice(6)
        : url,
    );
  }

  /**
   * The request headers (treat them as read-only). An open WebSocket keeps
   * them in a compact form: read after `accept()`, they are a new `Headers`
   * object with the same headers, made on first read.
   */
  get headers(): Headers {
    const headers = this.#headers;
    if (typeof headers !== "string") return headers;
    return this.#headers = unpackHeaders(headers);
  }

  /** The query string's parameters. */
  get queryParams(): URLSearchParams {
    return this.url.searchParams;
  }

  /** Cookies from the `Cookie` header, parsed on first use. */
  get cookies(): Record<string, string> {
    return this.#cookies ??= parseCookies(this.headers.get("cookie"));
  }

  /** A per-connection bag for dependencies and handlers to share values. */
  get state(): Record<string, unknown> {
    return this.#state ??= {};
  }

  /**
   * The absolute URL of a named route, on this connection's host: `ws:` or
   * `wss:` for a WebSocket route, `http:` or `https:` otherwise.
   *
   * @param name The route's name.
   * @param params Its path parameters.
   * @returns The URL.
   * @throws {NoMatchFound} If no route has that name and those parameters.
   */
  urlFor(name: string, params: Record<string, unknown> = {}): URL {
    return this.app.urlFor(name, params, this.url);
  }
}
