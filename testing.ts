/**
 * Testing an application in memory: {@linkcode TestClient} serves requests
 * and WebSocket sessions through the app's own `fetch` path and upgrade hook,
 * with an in-memory socket pair instead of the network, so the code under
 * test is the code in production.
 *
 * @example Testing an echo endpoint
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   for await (const text of ws.iterText()) await ws.sendText(text.toUpperCase());
 * });
 * await using session = await new TestClient(app).websocketConnect("/ws");
 * await session.sendText("hi");
 * assert.equal(await session.receiveText(), "HI");
 * ```
 *
 * @module
 */
import type { App } from "./app.ts";
import { WebSocketDisconnect } from "./errors.ts";
import type { UpgradeFunction } from "./upgrade.ts";
import type { DispatchContext } from "./_dispatch.ts";
import { TestServeInfo } from "./_test_serve_info.ts";
import { DISPATCH } from "./_symbols.ts";
import { Disconnect, SocketDriver } from "./_socket_driver.ts";
import {
  linkedSockets,
  openSockets,
  type PairedSocket,
  terminateSockets,
} from "./_socket_pair.ts";
import { assertCloseFrame } from "./_close.ts";
import { encoder, strictDecoder } from "./_utf8.ts";
import { testWebSocketClass } from "./_test_websocket.ts";

export { PairedSocket } from "./_socket_pair.ts";

/**
 * Options of {@linkcode TestClient}.
 *
 * @example Seeing what a real client sees
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient, type TestClientOptions, WebSocketDenialResponse } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App({ logger: { error() {}, warn() {} } });
 * app.websocket("/ws", () => {
 *   throw new Error("bug");
 * });
 * const options: TestClientOptions = { raiseServerExceptions: false };
 * const error = await new TestClient(app, options).websocketConnect("/ws").catch((e) => e);
 * assert.ok(error instanceof WebSocketDenialResponse);
 * assert.equal(error.response.status, 500);
 * ```
 */
export interface TestClientOptions {
  /**
   * Re-throw unhandled handler errors into the test: from `websocketConnect`
   * before accept, from the session's next call after it, from HTTP calls.
   * With `false` the client sees what a real one would: 500 before accept,
   * close 1011 after.
   *
   * @default {true}
   */
  raiseServerExceptions?: boolean;
  /** The origin requests are made to. @default {"http://testserver"} */
  baseUrl?: string;
  /** The client address the app sees. @default {{ hostname: "testclient", port: 50000 }} */
  client?: { hostname: string; port: number };
}

/**
 * Options of {@linkcode TestClient.websocketConnect}.
 *
 * @example Headers, subprotocols and cookies
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient, type WebSocketConnectOptions } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   await ws.sendJson([ws.headers.get("authorization"), ws.subprotocols, ws.cookies.session]);
 * });
 * const options: WebSocketConnectOptions = {
 *   headers: { authorization: "Bearer t" },
 *   subprotocols: ["v1"],
 *   cookies: { session: "s1" },
 * };
 * await using session = await new TestClient(app).websocketConnect("/ws", options);
 * assert.deepEqual(await session.receiveJson(), ["Bearer t", ["v1"], "s1"]);
 * ```
 */
export interface WebSocketConnectOptions {
  /** Extra request headers (e.g. `origin`, `authorization`). */
  headers?: HeadersInit;
  /** Subprotocols to offer, in order of preference. */
  subprotocols?: string[];
  /** Cookies to send, name → value. */
  cookies?: Record<string, string>;
}

/**
 * The handshake was answered with an HTTP response other than a refusal:
 * a denial response, or a 500 for an unhandled error (with
 * `raiseServerExceptions: false`). It is a `WebSocketDisconnect` (code 1006,
 * as a browser reports a failed handshake), so code that catches
 * disconnects catches it too.
 *
 * @example Reading the denial
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient, WebSocketDenialResponse } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", (ws) => ws.sendDenialResponse(new Response("teapot", { status: 418 })));
 * const error = await new TestClient(app).websocketConnect("/ws").catch((e) => e);
 * assert.ok(error instanceof WebSocketDenialResponse);
 * assert.equal(error.response.status, 418);
 * assert.equal(await error.response.text(), "teapot");
 * ```
 */
export class WebSocketDenialResponse extends WebSocketDisconnect {
  /** The response the server sent instead of upgrading. */
  readonly response: Response;

  /**
   * Wraps a response.
   *
   * @param response The HTTP response.
   */
  constructor(response: Response) {
    super(1006, "");
    this.name = "WebSocketDenialResponse";
    this.message =
      `WebSocket handshake answered with HTTP ${response.status} instead of upgrading`;
    this.response = response;
  }
}

// What a client and its sessions share about one connection's server side.
interface ServerSide {
  error: unknown;
  hasError: boolean;
  reported: boolean;
  done: Promise<void>;
}

function takeError(server: ServerSide): void {
  if (server.hasError && !server.reported) {
    server.reported = true;
    throw server.error;
  }
}

// The factory of WebSocketTestSession, whose constructor is private; only
// TestClient, below, calls it.
const CREATE: unique symbol = Symbol("wsapi.createSession");

// The client's end: a browser's WebSocket bounds nothing either.
const NO_LIMITS = {
  maxMessageSize: Infinity,
  maxQueuedMessages: Infinity,
  maxQueuedBytes: Infinity,
  sendHighWaterMark: Infinity,
};

/**
 * The client's side of one in-memory WebSocket connection.
 *
 * - `receive*()` wait for the next message; once the server has closed they
 *   throw `WebSocketDisconnect(code, reason)`.
 * - `close()` closes, waits for the server's handler to finish, and throws
 *   its unhandled error if there was one (with `raiseServerExceptions`).
 * - `await using` closes with 1000 at the end of the block.
 *
 * @example A session
 * ```ts
 * import { App, WebSocketDisconnect } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept({ subprotocol: "v2", headers: { "x-room": "lobby" } });
 *   await ws.sendJson({ hello: "world" });
 *   await ws.close(4000, "done");
 * });
 * const session = await new TestClient(app).websocketConnect("/ws", { subprotocols: ["v1", "v2"] });
 * assert.equal(session.acceptedSubprotocol, "v2");
 * assert.equal(session.responseHeaders.get("x-room"), "lobby");
 * assert.deepEqual(await session.receiveJson(), { hello: "world" });
 * const error = await session.receiveText().catch((e) => e);
 * assert.ok(error instanceof WebSocketDisconnect);
 * assert.equal(error.code, 4000);
 * await session.close();
 * ```
 */
export class WebSocketTestSession implements AsyncDisposable {
  /** The subprotocol the server chose, or `null`. */
  readonly acceptedSubprotocol: string | null;
  /** The headers of the server's upgrade response. */
  readonly responseHeaders: Headers;
  #socket: PairedSocket;
  #driver: SocketDriver;
  #server: ServerSide;

  /**
   * Made by `TestClient.websocketConnect()`.
   *
   * @param socket The client end of the pair.
   * @param response The upgrade response.
   * @param server The server side's outcome.
   */
  private constructor(
    socket: PairedSocket,
    response: Response,
    server: ServerSide,
  ) {
    this.#socket = socket;
    this.#server = server;
    this.#driver = new SocketDriver(NO_LIMITS);
    void this.#driver.attach(socket);
    this.responseHeaders = response.headers;
    this.acceptedSubprotocol = response.headers.get("sec-websocket-protocol");
  }

  /** @ignore */
  static [CREATE](
    socket: PairedSocket,
    response: Response,
    server: ServerSide,
  ): WebSocketTestSession {
    return new WebSocketTestSession(socket, response, server);
  }

  async #receive(): Promise<string | Uint8Array> {
    takeError(this.#server);
    const item = await this.#driver.next();
    if (item instanceof Disconnect) {
      takeError(this.#server);
      throw new WebSocketDisconnect(item.code, item.reason);
    }
    return item;
  }

  #send(data: string | Uint8Array | ArrayBuffer): Promise<void> {
    try {
      takeError(this.#server);
      const ended = this.#driver.ended;
      if (ended !== null) {
        throw new WebSocketDisconnect(ended.code, ended.reason);
      }
      this.#socket.send(data);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives the next message, text or binary.
   *
   * @returns The text, or the bytes.
   * @throws {WebSocketDisconnect} If the server has closed.
   */
  receiveData(): Promise<string | Uint8Array> {
    return this.#receive();
  }

  /**
   * Receives a text message.
   *
   * @returns The text.
   * @throws {WebSocketDisconnect} If the server has closed.
   * @throws {TypeError} If the message is binary.
   */
  async receiveText(): Promise<string> {
    const item = await this.#receive();
    if (typeof item !== "string") {
      throw new TypeError(
        "Cannot receive text: expected a text message, got a binary message: use receiveBytes()",
      );
    }
    return item;
  }

  /**
   * Receives a binary message.
   *
   * @returns The bytes.
   * @throws {WebSocketDisconnect} If the server has closed.
   * @throws {TypeError} If the message is text.
   */
  async receiveBytes(): Promise<Uint8Array> {
    const item = await this.#receive();
    if (typeof item === "string") {
      throw new TypeError(
        "Cannot receive bytes: expected a binary message, got a text message: use receiveText()",
      );
    }
    return item;
  }

  /**
   * Receives a JSON message (text, or UTF-8 bytes in `"binary"` mode).
   *
   * @param mode Which message type carries the JSON.
   * @returns The parsed value.
   */
  async receiveJson<T = unknown>(
    mode: "text" | "binary" = "text",
  ): Promise<T> {
    if (mode === "binary") {
      return JSON.parse(strictDecoder.decode(await this.receiveBytes()));
    }
    return JSON.parse(await this.receiveText());
  }

  /**
   * Sends a text message.
   *
   * @param data The text.
   * @throws {WebSocketDisconnect} If the connection is closed.
   */
  sendText(data: string): Promise<void> {
    return this.#send(String(data));
  }

  /**
   * Sends a binary message.
   *
   * @param data The bytes.
   * @throws {WebSocketDisconnect} If the connection is closed.
   */
  sendBytes(data: Uint8Array | ArrayBuffer): Promise<void> {
    return this.#send(data);
  }

  /**
   * Sends a value as compact JSON (text, or UTF-8 bytes in `"binary"` mode).
   *
   * @param data Any JSON value.
   * @param mode Which message type carries the JSON.
   * @throws {WebSocketDisconnect} If the connection is closed.
   */
  sendJson(data: unknown, mode: "text" | "binary" = "text"): Promise<void> {
    const text = JSON.stringify(data);
    return this.#send(mode === "binary" ? encoder.encode(text) : text);
  }

  /**
   * Closes the connection (if still open), waits for the server's handler to
   * finish, then throws the handler's unhandled error, if any.
   *
   * @param code The close code. @default {1000}
   * @param reason The close reason. @default {""}
   * @throws {RangeError} If the code or reason may not be sent.
   */
  async close(code = 1000, reason = ""): Promise<void> {
    assertCloseFrame("close session", code, reason);
    if (this.#driver.ended === null) this.#socket.close(code, reason);
    await this.#server.done;
    takeError(this.#server);
  }

  /**
   * Drops the connection without a closing handshake, as when the client's
   * network fails: the server sees a disconnect with code 1006.
   */
  async terminate(): Promise<void> {
    terminateSockets(this.#socket);
    await this.#server.done;
    takeError(this.#server);
  }

  /** Closes with 1000 and waits for the server's handler (see `close()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * An app-like object the test client can serve: anything with a
 * `fetch(request, info)`, such as a Hono app that hands some routes on to a
 * wsapi `App`'s `fetch` (passing `info` along).
 *
 * @example A Hono app that delegates to wsapi
 * ```ts
 * import { Hono } from "npm:hono@^4.13";
 * import { App } from "@wsapi/wsapi";
 * import { type FetchApp, TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const wsapi = new App();
 * wsapi.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   await ws.sendText("from wsapi");
 * });
 * const hono = new Hono<{ Bindings: Deno.ServeHandlerInfo }>();
 * hono.get("/", (c) => c.text("from hono"));
 * hono.all("/ws", (c) => wsapi.fetch(c.req.raw, c.env));
 *
 * const app: FetchApp = hono;
 * const client = new TestClient(app);
 * assert.equal(await (await client.get("/")).text(), "from hono");
 * await using session = await client.websocketConnect("/ws");
 * assert.equal(await session.receiveText(), "from wsapi");
 * ```
 */
export interface FetchApp {
  /**
   * Answers a request; `info` is Deno's connection info (or the test
   * client's stand-in, which must be passed on to the wsapi `App`).
   *
   * @param request The request.
   * @param info The connection's info.
   * @returns The response.
   */
  fetch(
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Response | Promise<Response>;
}

function isApp(app: unknown): app is App {
  return typeof (app as Partial<App> | null)?.[DISPATCH] === "function";
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object" && typeof value !== "function") {
    return typeof value;
  }
  const name = (value as { constructor?: { name?: string } }).constructor
    ?.name;
  const what = name === undefined || name === ""
    ? "an object"
    : `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`;
  return `${what} without a fetch method`;
}

/**
 * Serves an app in memory: HTTP requests through `app.fetch`'s own path,
 * WebSocket sessions through the app's upgrade hook with an in-memory socket
 * pair. No port, no network.
 *
 * - A handshake refused by a close → `websocketConnect` rejects with
 *   `WebSocketDisconnect(code, reason)`.
 * - A denial response (or a 500) → it rejects with
 *   {@linkcode WebSocketDenialResponse}.
 * - With `raiseServerExceptions` (the default), an unhandled handler error is
 *   thrown into the test instead.
 * - The server's end of the pair is driven by the same code as a real socket,
 *   with the app's limits (`maxMessageSize`, `maxQueuedMessages`,
 *   `maxQueuedBytes`, `sendHighWaterMark`): a test sees the 1008 and 1009 a
 *   real client would. The client's end is unbounded, like a browser's. What
 *   the pair cannot show is Deno's timing (it delivers one message per
 *   microtask, so a handler falls behind differently under load) and frames
 *   (Deno's 64 MiB frame limit, its fragment assembly).
 *
 * @example HTTP and WebSocket routes
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.get("/", () => "<h1>Chat</h1>");
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   await ws.sendText(`hi ${ws.client?.hostname}`);
 * });
 * const client = new TestClient(app);
 * const page = await client.get("/");
 * assert.equal(page.status, 200);
 * await using session = await client.websocketConnect("/ws");
 * assert.equal(await session.receiveText(), "hi testclient");
 * ```
 */
export class TestClient {
  #app: App | FetchApp;
  #raise: boolean;
  #base: URL;
  #client: { hostname: string; port: number };
  #WebSocket: typeof WebSocket | undefined;

  /**
   * Creates a client for `app`: an `App`, or any app-like object whose
   * `fetch(request, info)` hands requests on to an `App` (a Hono app with
   * `app.all("/ws/*", (c) => wsapi.fetch(c.req.raw, c.env))`, say). Such a
   * delegate must pass `info` (Hono's `c.env`) on: it is how the `App`
   * knows it is being tested.
   *
   * @param app The application.
   * @param options How errors surface, and what the app sees.
   * @throws {TypeError} If `app` is neither an `App` nor has a `fetch` method.
   */
  constructor(app: App | FetchApp, options: TestClientOptions = {}) {
    if (
      !isApp(app) &&
      typeof (app as Partial<FetchApp> | null)?.fetch !== "function"
    ) {
      throw new TypeError(
        `Cannot create TestClient: expected an App or an object with a fetch(request, info) method, got ${
          describe(app)
        }: pass the App (or the app that delegates to its fetch)`,
      );
    }
    this.#app = app;
    this.#raise = options.raiseServerExceptions ?? true;
    this.#base = new URL(options.baseUrl ?? "http://testserver");
    this.#client = options.client ?? { hostname: "testclient", port: 50000 };
  }

  async #dispatch(
    request: Request,
    context: DispatchContext,
    upgradeUrl?: URL,
  ): Promise<Response> {
    const app = this.#app;
    if (isApp(app)) return await app[DISPATCH](request, context);
    const info = new TestServeInfo(context);
    const response = await app.fetch(request, info);
    if (upgradeUrl !== undefined && !info.used) {
      await response.body?.cancel();
      throw new Error(
        `Cannot connect to "${upgradeUrl.pathname}": the app given to TestClient answered ${response.status} without handing the request to a wsapi App with the info it was called with: delegate with app.fetch(request, info) (in Hono: wsapi.fetch(c.req.raw, c.env))`,
      );
    }
    return response;
  }

  /**
   * A WHATWG-`WebSocket`-compatible constructor whose sockets connect to
   * the app in memory (the URL's host is ignored; path and query route).
   * Code written for the browser's `WebSocket`, such as the typed client's
   * `connect(protocol, url, { WebSocket: client.WebSocket })`, runs on it
   * unchanged. A refused handshake shows as an `error` event and a close
   * with 1006, as in a browser.
   *
   * @example The browser API, in memory
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.websocket("/ws", async (ws) => {
   *   await ws.accept();
   *   await ws.sendText(await ws.receiveText());
   * });
   * const socket = new (new TestClient(app).WebSocket)("ws://testserver/ws");
   * socket.onopen = () => socket.send("echo");
   * const { data } = await new Promise<MessageEvent>((resolve) => socket.onmessage = resolve);
   * assert.equal(data, "echo");
   * socket.close();
   * await new Promise((resolve) => socket.onclose = resolve);
   * ```
   */
  get WebSocket(): typeof WebSocket {
    return this.#WebSocket ??= testWebSocketClass(this);
  }

  #url(path: string | URL): URL {
    const url = new URL(path, this.#base);
    if (url.protocol === "ws:") url.protocol = "http:";
    else if (url.protocol === "wss:") url.protocol = "https:";
    return url;
  }

  /**
   * Opens a WebSocket session.
   *
   * @param path A path (with query) or URL, relative to the base URL.
   * @param options Headers, subprotocols and cookies.
   * @returns The session, once the server accepted.
   * @throws {WebSocketDisconnect} If the server refused (closed before
   * accepting), with its code and reason.
   * @throws {WebSocketDenialResponse} If the server answered with a response.
   */
  async websocketConnect(
    path: string | URL,
    options: WebSocketConnectOptions = {},
  ): Promise<WebSocketTestSession> {
    const url = this.#url(path);
    const headers = new Headers(options.headers);
    headers.set("upgrade", "websocket");
    headers.set("connection", "Upgrade");
    headers.set("sec-websocket-version", "13");
    headers.set(
      "sec-websocket-key",
      btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))),
    );
    if (!headers.has("host")) headers.set("host", url.host);
    if (!headers.has("user-agent")) headers.set("user-agent", "testclient");
    if (options.subprotocols !== undefined && options.subprotocols.length > 0) {
      headers.set("sec-websocket-protocol", options.subprotocols.join(", "));
    }
    if (options.cookies !== undefined) {
      const pairs = Object.entries(options.cookies).map(([k, v]) =>
        `${k}=${v}`
      );
      const existing = headers.get("cookie");
      if (existing !== null) pairs.unshift(existing);
      if (pairs.length > 0) headers.set("cookie", pairs.join("; "));
    }
    const request = new Request(url, { headers });
    const [serverSocket, clientSocket] = linkedSockets();
    let upgraded: Response | undefined;
    const upgrade: UpgradeFunction = (_request, { protocol }) => {
      // A Response cannot have status 101 outside the runtime; the test
      // client recognises its own upgrade response by identity instead.
      const response = new Response(null, { status: 200 });
      if (protocol !== undefined) {
        response.headers.set("sec-websocket-protocol", protocol);
        serverSocket.protocol = protocol;
        clientSocket.protocol = protocol;
      }
      upgraded = response;
      return { socket: serverSocket, response };
    };
    let refusal: { code: number; reason: string; why?: string } | undefined;
    const server: ServerSide = {
      error: undefined,
      hasError: false,
      reported: false,
      done: Promise.resolve(),
    };
    const context: DispatchContext = {
      upgrade,
      client: this.#client,
      onRefuse(code, reason, why) {
        refusal = { code, reason, why };
      },
      onConnection(done) {
        server.done = done.catch((error) => {
          if (!server.hasError) {
            server.hasError = true;
            server.error = error;
          }
        });
      },
    };
    if (this.#raise) {
      context.onError = (error) => {
        if (!server.hasError) {
          server.hasError = true;
          server.error = error;
        }
      };
    }
    const response = await this.#dispatch(request, context, url);
    // An app that delegates to the App may hand back a copy of the upgrade
    // response (Hono does, when a middleware sets a header after next()).
    if (
      upgraded !== undefined &&
      (response === upgraded ||
        (!isApp(this.#app) && response.status === upgraded.status))
    ) {
      const session = WebSocketTestSession[CREATE](
        clientSocket,
        response,
        server,
      );
      openSockets(serverSocket, clientSocket);
      return session;
    }
    await server.done;
    takeError(server);
    if (refusal !== undefined) {
      const error = new WebSocketDisconnect(refusal.code, refusal.reason);
      // The app's own refusal says why (a handler's says it in its reason).
      if (refusal.why !== undefined) {
        error.message =
          `Cannot open WebSocket: ${refusal.why}: the handshake was refused with close code ${refusal.code} (HTTP 403)`;
      }
      throw error;
    }
    throw new WebSocketDenialResponse(response);
  }

  /**
   * Sends an HTTP request to the app.
   *
   * @param input A path or URL (relative to the base URL), or a `Request`.
   * @param init Request options.
   * @returns The app's response.
   * @throws The handler's unhandled error, with `raiseServerExceptions`.
   */
  async fetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const request = input instanceof Request
      ? new Request(input, init)
      : new Request(this.#url(input), init);
    let error: { value: unknown } | undefined;
    const context: DispatchContext = { client: this.#client };
    if (this.#raise) context.onError = (value) => error ??= { value };
    const response = await this.#dispatch(request, context);
    if (error !== undefined) {
      await response.body?.cancel();
      throw error.value;
    }
    return response;
  }

  /**
   * Sends a GET request.
   *
   * @param path A path or URL.
   * @param init Request options.
   * @returns The response.
   */
  get(path: string | URL, init?: RequestInit): Promise<Response> {
    return this.fetch(path, { ...init, method: "GET" });
  }

  /**
   * Sends a POST request.
   *
   * @param path A path or URL.
   * @param init Request options (e.g. `body`).
   * @returns The response.
   */
  post(path: string | URL, init?: RequestInit): Promise<Response> {
    return this.fetch(path, { ...init, method: "POST" });
  }

  /**
   * Sends a PUT request.
   *
   * @param path A path or URL.
   * @param init Request options.
   * @returns The response.
   */
  put(path: string | URL, init?: RequestInit): Promise<Response> {
    return this.fetch(path, { ...init, method: "PUT" });
  }

  /**
   * Sends a PATCH request.
   *
   * @param path A path or URL.
   * @param init Request options.
   * @returns The response.
   */
  patch(path: string | URL, init?: RequestInit): Promise<Response> {
    return this.fetch(path, { ...init, method: "PATCH" });
  }

  /**
   * Sends a DELETE request.
   *
   * @param path A path or URL.
   * @param init Request options.
   * @returns The response.
   */
  delete(path: string | URL, init?: RequestInit): Promise<Response> {
    return this.fetch(path, { ...init, method: "DELETE" });
  }
}

/**
 * Creates two connected in-memory sockets, `[server, client]`, that open on
 * the next microtask: for unit tests of code that takes a socket.
 *
 * @returns The two ends.
 *
 * @example A round trip
 * ```ts
 * import { createSocketPair } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const [server, client] = createSocketPair();
 * server.onmessage = (event) => server.send(`echo: ${event.data}`);
 * const reply = new Promise((resolve) => client.onmessage = (e) => resolve(e.data));
 * client.onopen = () => client.send("hi");
 * assert.equal(await reply, "echo: hi");
 * const closed = new Promise<CloseEvent>((resolve) => server.onclose = resolve);
 * client.close(1000, "bye");
 * assert.equal((await closed).reason, "bye");
 * ```
 */
export function createSocketPair(): [PairedSocket, PairedSocket] {
  const [server, client] = linkedSockets();
  queueMicrotask(() => openSockets(server, client));
  return [server, client];
}
