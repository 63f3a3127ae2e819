/**
 * The connection objects a handler receives: {@linkcode HTTPConnection} (what
 * HTTP requests and WebSockets share) and {@linkcode WebSocket}, with its
 * Starlette-style state machine, typed helpers and limits.
 *
 * @module
 */
import type { App } from "./app.ts";
import {
  WebSocketDisconnect,
  WebSocketRequestValidationError,
} from "./errors.ts";
import type { ValidationIssue } from "./errors.ts";
import {
  Disconnect,
  type DriverLimits,
  type Inbound,
  type Receiver,
  SocketDriver,
  type WebSocketLike,
} from "./_socket_driver.ts";
import { upgradeWatched, watchClientGone } from "./_client_gone.ts";
import { assertCloseFrame } from "./_close.ts";
import { encoder, strictDecoder } from "./_utf8.ts";
import type { StandardSchemaV1 } from "./_standard_schema.ts";
import { parseCookies } from "./_cookies.ts";
import { packHeaders, unpackHeaders } from "./_headers.ts";
import { connectionControl } from "./_connection_control.ts";

export type { WebSocketLike } from "./_socket_driver.ts";
export type {
  StandardSchemaV1,
  StandardSchemaV1Issue,
  StandardSchemaV1Props,
  StandardSchemaV1Result,
} from "./_standard_schema.ts";

/**
 * Close codes of RFC 6455 §7.4.1 and the IANA registry that an application
 * may send.
 *
 * @example Closing with a named code
 * ```ts
 * import { CLOSE_CODE } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(CLOSE_CODE.PolicyViolation, 1008);
 * ```
 */
export const CLOSE_CODE = {
  /** The purpose of the connection was fulfilled. */
  NormalClosure: 1000,
  /** The server is going down or the browser left the page. */
  GoingAway: 1001,
  /** The peer broke the protocol. */
  ProtocolError: 1002,
  /** The peer sent a kind of data that cannot be accepted. */
  UnsupportedData: 1003,
  /** A message's data did not fit its type (e.g. invalid UTF-8 in text). */
  InvalidFramePayloadData: 1007,
  /** A message broke the application's policy (also: validation failed). */
  PolicyViolation: 1008,
  /** A message was larger than `maxMessageSize`. */
  MessageTooBig: 1009,
  /** The client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** The server met an unexpected condition (an unhandled error). */
  InternalError: 1011,
  /** The server is restarting. */
  ServiceRestart: 1012,
  /** The server is overloaded, or the client reads too slowly: try later. */
  TryAgainLater: 1013,
} as const;

/**
 * One of the values of {@linkcode CLOSE_CODE}.
 *
 * @example Typing a code
 * ```ts
 * import { CLOSE_CODE, type CloseCode } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const code: CloseCode = CLOSE_CODE.TryAgainLater;
 * assert.equal(code, 1013);
 * ```
 */
export type CloseCode = typeof CLOSE_CODE[keyof typeof CLOSE_CODE];

/**
 * The states of a connection's two sides (`clientState` and
 * `applicationState`): both start CONNECTING; RESPONSE is the application
 * side after a denial response.
 *
 * @example Checking whether the handler accepted
 * ```ts
 * import { WebSocketState } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(WebSocketState.CONNECTED, 1);
 * ```
 */
export const WebSocketState = {
  CONNECTING: 0,
  CONNECTED: 1,
  DISCONNECTED: 2,
  RESPONSE: 3,
} as const;

/**
 * One of the values of {@linkcode WebSocketState}.
 *
 * @example Typing a state
 * ```ts
 * import { WebSocketState } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const state: WebSocketState = WebSocketState.DISCONNECTED;
 * assert.equal(state, 2);
 * ```
 */
export type WebSocketState = typeof WebSocketState[keyof typeof WebSocketState];

const { CONNECTING, CONNECTED, DISCONNECTED, RESPONSE } = WebSocketState;
const STATE_NAMES = ["CONNECTING", "CONNECTED", "DISCONNECTED", "RESPONSE"];

/**
 * The first message of every connection.
 *
 * @example A message
 * ```ts
 * import type { ConnectMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: ConnectMessage = { type: "websocket.connect" };
 * assert.equal(message.type, "websocket.connect");
 * ```
 */
export interface ConnectMessage {
  /** Message type. */
  type: "websocket.connect";
}
/**
 * A text message from the client.
 *
 * @example A message
 * ```ts
 * import type { ReceiveTextMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: ReceiveTextMessage = { type: "websocket.receive", text: "hi" };
 * assert.equal(message.text, "hi");
 * ```
 */
export interface ReceiveTextMessage {
  /** Message type. */
  type: "websocket.receive";
  /** The text. */
  text: string;
  /** Never set on a text message. */
  bytes?: undefined;
}
/**
 * A binary message from the client.
 *
 * @example A message
 * ```ts
 * import type { ReceiveBytesMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: ReceiveBytesMessage = { type: "websocket.receive", bytes: new Uint8Array([1]) };
 * assert.equal(message.bytes.length, 1);
 * ```
 */
export interface ReceiveBytesMessage {
  /** Message type. */
  type: "websocket.receive";
  /** The bytes. */
  bytes: Uint8Array;
  /** Never set on a binary message. */
  text?: undefined;
}
/**
 * The client left: the close code and reason it sent (1006 without a close frame).
 *
 * @example A message
 * ```ts
 * import type { DisconnectMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: DisconnectMessage = { type: "websocket.disconnect", code: 1001, reason: "" };
 * assert.equal(message.code, 1001);
 * ```
 */
export interface DisconnectMessage {
  /** Message type. */
  type: "websocket.disconnect";
  /** The close code. */
  code: number;
  /** The close reason, `""` when none. */
  reason: string;
}
/**
 * What `receive()` returns.
 *
 * @example The raw messages
 * ```ts
 * import { App, type ReceiveMessage } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * const seen: ReceiveMessage[] = [];
 * app.websocket("/raw", async (ws) => {
 *   seen.push(await ws.receive()); // the connect message
 *   await ws.send({ type: "websocket.accept" });
 *   while (true) {
 *     const message = await ws.receive();
 *     seen.push(message);
 *     if (message.type === "websocket.disconnect") break;
 *     if (message.type === "websocket.receive" && message.text !== undefined) await ws.send({ type: "websocket.send", text: message.text });
 *   }
 * });
 * const session = await new TestClient(app).websocketConnect("/raw");
 * await session.sendText("hi");
 * assert.equal(await session.receiveText(), "hi");
 * await session.close(4000, "bye");
 * assert.deepEqual(seen, [
 *   { type: "websocket.connect" },
 *   { type: "websocket.receive", text: "hi" },
 *   { type: "websocket.disconnect", code: 4000, reason: "bye" },
 * ]);
 * ```
 */
export type ReceiveMessage =
  | ConnectMessage
  | ReceiveTextMessage
  | ReceiveBytesMessage
  | DisconnectMessage;

/**
 * Accepts the handshake.
 *
 * @example A message
 * ```ts
 * import type { AcceptMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: AcceptMessage = { type: "websocket.accept", subprotocol: "v1", headers: { "x-a": "b" } };
 * assert.equal(message.subprotocol, "v1");
 * ```
 */
export interface AcceptMessage {
  /** Message type. */
  type: "websocket.accept";
  /** The chosen subprotocol: one of the client's offers. */
  subprotocol?: string;
  /** Extra headers for the 101 response. */
  headers?: HeadersInit;
}
/**
 * Sends a text message.
 *
 * @example A message
 * ```ts
 * import type { SendTextMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: SendTextMessage = { type: "websocket.send", text: "hi" };
 * assert.equal(message.text, "hi");
 * ```
 */
export interface SendTextMessage {
  /** Message type. */
  type: "websocket.send";
  /** The text. */
  text: string;
  /** Not set on a text message. */
  bytes?: undefined;
}
/**
 * Sends a binary message.
 *
 * @example A message
 * ```ts
 * import type { SendBytesMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: SendBytesMessage = { type: "websocket.send", bytes: new Uint8Array([1]) };
 * assert.equal(message.bytes.byteLength, 1);
 * ```
 */
export interface SendBytesMessage {
  /** Message type. */
  type: "websocket.send";
  /** The bytes. */
  bytes: Uint8Array | ArrayBuffer;
  /** Not set on a binary message. */
  text?: undefined;
}
/**
 * Closes the connection (before accept: refuses the handshake).
 *
 * @example A message
 * ```ts
 * import type { CloseMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const message: CloseMessage = { type: "websocket.close", code: 4000, reason: "bye" };
 * assert.equal(message.code, 4000);
 * ```
 */
export interface CloseMessage {
  /** Message type. */
  type: "websocket.close";
  /** The close code. @default {1000} */
  code?: number;
  /** The close reason. @default {""} */
  reason?: string;
}
/**
 * What `send()` takes.
 *
 * @example The raw messages
 * ```ts
 * import { App, type ReceiveMessage } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * const seen: ReceiveMessage[] = [];
 * app.websocket("/raw", async (ws) => {
 *   seen.push(await ws.receive()); // the connect message
 *   await ws.send({ type: "websocket.accept" });
 *   while (true) {
 *     const message = await ws.receive();
 *     seen.push(message);
 *     if (message.type === "websocket.disconnect") break;
 *     if (message.type === "websocket.receive" && message.text !== undefined) await ws.send({ type: "websocket.send", text: message.text });
 *   }
 * });
 * const session = await new TestClient(app).websocketConnect("/raw");
 * await session.sendText("hi");
 * assert.equal(await session.receiveText(), "hi");
 * await session.close(4000, "bye");
 * assert.deepEqual(seen, [
 *   { type: "websocket.connect" },
 *   { type: "websocket.receive", text: "hi" },
 *   { type: "websocket.disconnect", code: 4000, reason: "bye" },
 * ]);
 * ```
 */
export type SendMessage =
  | AcceptMessage
  | SendTextMessage
  | SendBytesMessage
  | CloseMessage;

/**
 * Options of {@linkcode UpgradeFunction}, as `Deno.upgradeWebSocket` takes them.
 *
 * @example Options
 * ```ts
 * import type { UpgradeOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: UpgradeOptions = { protocol: "v1", idleTimeout: 30 };
 * assert.equal(options.idleTimeout, 30);
 * ```
 */
export interface UpgradeOptions {
  /** The chosen subprotocol, echoed in `Sec-WebSocket-Protocol`. */
  protocol?: string;
  /** Seconds without a pong before the socket is closed; 0 disables. */
  idleTimeout?: number;
}

/**
 * Turns an upgrade request into a socket and the response that completes the
 * handshake: `Deno.upgradeWebSocket` in production, an in-memory pair in the
 * test client.
 *
 * @example A custom upgrade function
 * ```ts
 * import { App, type UpgradeFunction } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * // Wrap the upgrade, e.g. to count sockets; the test client swaps in its own.
 * let upgrades = 0;
 * const upgrade: UpgradeFunction = (request, options) => {
 *   upgrades++;
 *   return Deno.upgradeWebSocket(request, options);
 * };
 * const app = new App({ upgrade });
 * app.websocket("/ws", async (ws) => await ws.accept());
 * await using session = await new TestClient(app).websocketConnect("/ws");
 * assert.equal(upgrades, 0); // in memory: the test client's own upgrade ran
 * assert.equal(session.acceptedSubprotocol, null);
 * ```
 */
export type UpgradeFunction = (
  request: Request,
  options: UpgradeOptions,
) => { socket: WebSocketLike; response: Response };

/**
 * The outcome of a handshake, handed to the server exactly once.
 *
 * @example A refusal
 * ```ts
 * import type { WebSocketHandshake } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const refusal: WebSocketHandshake = {
 *   response: new Response(null, { status: 403 }),
 *   close: { code: 1008, reason: "no token" },
 * };
 * assert.equal(refusal.response.status, 403);
 * ```
 */
export interface WebSocketHandshake {
  /** The response to return: the upgrade response, a 403, or a denial. */
  response: Response;
  /** Set when the application closed before accepting (a refusal). */
  close?: { code: number; reason: string };
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
  app: App;
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
}

/**
 * What a {@linkcode WebSocket} is built from; the application does this.
 *
 * @example Building a connection by hand
 * ```ts
 * import { App, WebSocket, type WebSocketHandshake } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * // What an App does for each upgrade request, by hand:
 * const request = new Request("http://localhost/ws", { headers: { upgrade: "websocket" } });
 * const handshakes: WebSocketHandshake[] = [];
 * const ws = new WebSocket({
 *   app: new App(),
 *   url: new URL(request.url),
 *   headers: new Headers(request.headers),
 *   request,
 *   upgrade: () => {
 *     throw new Error("not reached: the handler refuses");
 *   },
 *   respond: (handshake) => handshakes.push(handshake),
 * });
 * await ws.close(4003, "no");
 * assert.equal(handshakes[0].response.status, 403);
 * assert.deepEqual(handshakes[0].close, { code: 4003, reason: "no" });
 * ```
 */
export interface WebSocketInit extends HTTPConnectionInit {
  /** The upgrade request, handed to `upgrade` on accept. */
  request: Request;
  /** Performs the upgrade. */
  upgrade: UpgradeFunction;
  /** Receives the handshake's outcome, once. */
  respond: (handshake: WebSocketHandshake) => void;
  /** Bytes; a larger message closes with 1009. @default {1048576} */
  maxMessageSize?: number;
  /** Unread messages; one more closes with 1008. @default {1024} */
  maxQueuedMessages?: number;
  /** Bytes buffered before `send*()` waits. @default {1048576} */
  sendHighWaterMark?: number;
  /** Seconds; passed to `upgrade`. */
  idleTimeout?: number;
}

// Module-internal access to HTTPConnection's private state.
const snapshot = {} as {
  deferWebSocketUrl(conn: HTTPConnection): void;
  packHeaders(conn: HTTPConnection): void;
};

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
  /** The application serving this connection. */
  readonly app: App;
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
  }

  static {
    snapshot.deferWebSocketUrl = (conn) => {
      conn.#url = (conn.#url as URL).href;
    };
    snapshot.packHeaders = (conn) => {
      const headers = conn.#headers;
      if (typeof headers !== "string") conn.#headers = packHeaders(headers);
    };
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

const OFFERED_SEPARATOR = /\s*,\s*/;
// Shared by the connections whose client offered none (the lists are frozen,
// this one and the others alike).
const NO_SUBPROTOCOLS: string[] = Object.freeze([]) as unknown as string[];
// Headers the handshake itself sets; an application must not override them.
const RESERVED_ACCEPT_HEADERS = new Set([
  "connection",
  "upgrade",
  "content-length",
  "transfer-encoding",
  "sec-websocket-accept",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
]);

function notAccepted(action: string, state: number): Error {
  if (state === CONNECTING) {
    return new Error(
      `Cannot ${action}: WebSocket is not accepted (state CONNECTING): call accept() first`,
    );
  }
  return new Error(
    `Cannot ${action}: WebSocket is closed (state ${
      STATE_NAMES[state]
    }): a close message or response has already been sent`,
  );
}

function assertMode(action: string, mode: string): void {
  if (mode !== "text" && mode !== "binary") {
    throw new TypeError(
      `Cannot ${action}: mode must be "text" or "binary", got "${mode}"`,
    );
  }
}

function describe(item: Inbound): string {
  return typeof item === "string" ? "a text message" : "a binary message";
}

// What a send that went out at once returns: one settled promise for all.
const SENT: Promise<void> = Promise.resolve();

// What a typed receive accepts.
const ANY = 0;
const TEXT = 1;
const BYTES = 2;
type Kind = typeof ANY | typeof TEXT | typeof BYTES;

// What each kind of receive is called in errors.
const RECEIVE_ACTIONS = ["receive JSON", "receive text", "receive bytes"];

// Connections whose client is watched once the code that built them has
// run: one microtask for all built in the same turn, no closure each.
const toWatch: WebSocket[] = [];
let watchClients: () => void;

// Connections of one route have the same limits: they share one object.
let lastLimits: DriverLimits | undefined;

function limitsOf(init: WebSocketInit): DriverLimits {
  const maxMessageSize = init.maxMessageSize ?? 1024 * 1024;
  const maxQueuedMessages = init.maxQueuedMessages ?? 1024;
  const sendHighWaterMark = init.sendHighWaterMark ?? 1024 * 1024;
  const last = lastLimits;
  if (
    last !== undefined && last.maxMessageSize === maxMessageSize &&
    last.maxQueuedMessages === maxQueuedMessages &&
    last.sendHighWaterMark === sendHighWaterMark
  ) return last;
  return lastLimits = Object.freeze({
    maxMessageSize,
    maxQueuedMessages,
    sendHighWaterMark,
  });
}

function receivedDisconnect(action: string): Error {
  return new Error(
    `Cannot ${action}: the disconnect message was already received (client state DISCONNECTED): stop receiving once the client has gone`,
  );
}

// Module-internal access to the receive steps of WebSocket, for the
// iterators.
const receiving = {} as {
  take(ws: WebSocket, kind: Kind, receiver: Receiver): Inbound | undefined;
  /**
   * The item's data; for the end null if `quietEnd`, else it throws
   * WebSocketDisconnect; throws for the wrong kind.
   */
  end(
    ws: WebSocket,
    kind: Kind,
    item: Inbound,
    quietEnd: boolean,
  ): string | Uint8Array | null;
};

// A typed receive waiting for its message (see #receiveData).
class Receipt {
  resolve: ((value: Data | Promise<never>) => void) | null = null;
  #ws: WebSocket;
  #kind: Kind;

  constructor(ws: WebSocket, kind: Kind) {
    this.#ws = ws;
    this.#kind = kind;
  }

  /** The driver's receiver. */
  deliver(item: Inbound): void {
    let data: Data;
    try {
      data = receiving.end(this.#ws, this.#kind, item, false)!;
    } catch (error) {
      // (No reject function kept while waiting: one less per connection.)
      this.resolve!(Promise.reject(error));
      return;
    }
    this.resolve!(data);
  }
}

type Data = string | Uint8Array;
const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

// What iterText(), iterBytes() and iterJson() iterate: written out rather
// than an async generator, whose suspended frame every idle connection
// would keep, and which takes more steps per message. It waits for the
// next message as the driver's receiver (deliver()), so a message that is
// already queued costs no promise but next()'s own.
class MessageIterator implements AsyncIterableIterator<Data> {
  #ws: WebSocket;
  #kind: Kind;
  #done = false;
  #resolve:
    | ((result: Promise<never> | IteratorResult<Data, undefined>) => void)
    | null = null;

  constructor(ws: WebSocket, kind: Kind) {
    this.#ws = ws;
    this.#kind = kind;
  }

  next(): Promise<IteratorResult<Data, undefined>> {
    if (this.#done) return Promise.resolve(DONE);
    // A next() while another waits (only when called by hand, never by
    // for await) takes the message after that one.
    if (this.#resolve !== null) {
      return new Promise<Inbound>((resolve) => {
        const item = receiving.take(this.#ws, this.#kind, resolve);
        if (item !== undefined) resolve(item);
      }).then((item) => this.#result(item), (error) => this.#fail(error));
    }
    try {
      const item = receiving.take(this.#ws, this.#kind, this);
      if (item !== undefined) return Promise.resolve(this.#result(item));
    } catch (error) {
      return this.#fail(error);
    }
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** The driver's receiver: the item this iterator waits for. */
  deliver(item: Inbound): void {
    const resolve = this.#resolve!;
    this.#resolve = null;
    let result: IteratorResult<Data, undefined>;
    try {
      result = this.#result(item);
    } catch (error) {
      // (A waiting iterator keeps no reject function: one less per socket.)
      resolve(Promise.reject(error));
      return;
    }
    resolve(result);
  }

  #result(item: Inbound): IteratorResult<Data, undefined> {
    let data: Data | null;
    try {
      data = receiving.end(this.#ws, this.#kind, item, true);
    } catch (error) {
      this.#done = true;
      throw error;
    }
    if (data !== null) return { value: data, done: false };
    this.#done = true;
    return DONE;
  }

  #fail(error: unknown): Promise<never> {
    this.#done = true;
    return Promise.reject(error);
  }

  return(): Promise<IteratorResult<Data, undefined>> {
    this.#done = true;
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function wrongKind(action: string, kind: Kind, item: Inbound): TypeError {
  return new TypeError(
    kind === TEXT
      ? `Cannot ${action}: expected a text message, got ${
        describe(item)
      }: use receiveBytes() for binary messages`
      : `Cannot ${action}: expected a binary message, got ${
        describe(item)
      }: use receiveText() for text messages`,
  );
}

/**
 * One WebSocket connection, from the handshake to the close.
 *
 * It has two states: `clientState` moves only in `receive()` (CONNECTING →
 * CONNECTED on the connect message, → DISCONNECTED on the disconnect
 * message), `applicationState` only in `send()` (CONNECTING → CONNECTED on
 * accept, → DISCONNECTED on close, → RESPONSE → DISCONNECTED on a denial
 * response). The typed helpers are thin wrappers over the two.
 *
 * - Closing (or returning) before `accept()` refuses the handshake with 403.
 * - Incoming messages queue until read: more than `maxQueuedMessages` unread
 *   closes with 1008, one larger than `maxMessageSize` closes with 1009.
 * - `send*()` waits while more than `sendHighWaterMark` bytes are buffered.
 * - Once the client has gone, the typed helpers throw
 *   `WebSocketDisconnect(code, reason)`, sends included.
 *
 * @example An echo endpoint
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   await ws.accept();
 *   for await (const text of ws.iterText()) {
 *     await ws.sendText(`Message text was: ${text}`);
 *   }
 * });
 * await using session = await new TestClient(app).websocketConnect("/ws");
 * await session.sendText("hello");
 * assert.equal(await session.receiveText(), "Message text was: hello");
 * ```
 */
export class WebSocket extends HTTPConnection {
  /** The subprotocols the client offered, in its order (a frozen list). */
  readonly subprotocols: string[];
  #clientState: WebSocketState = CONNECTING;
  #applicationState: WebSocketState = CONNECTING;
  #init: WebSocketInit | null;
  #driver: SocketDriver;
  #subprotocol: string | undefined;
  #preferredSubprotocol: string | undefined;

  /**
   * Builds a connection for an upgrade request; applications receive them
   * from the router.
   *
   * @param init What the connection is built from.
   */
  constructor(init: WebSocketInit) {
    super(init);
    snapshot.deferWebSocketUrl(this);
    // Deno reads a request's headers one by one from the runtime, until
    // the upgrade closes the request: a read of them all before (any
    // method but get()) makes Deno copy them into the Headers object, which
    // then serves them until accept() packs them. has() makes that copy
    // with the least besides. (The App passes headers the request does not
    // hold: see _headers.ts.)
    init.headers.has("sec-websocket-protocol");
    const offered = init.headers.get("sec-websocket-protocol");
    this.subprotocols = offered === null || offered.trim() === ""
      ? NO_SUBPROTOCOLS
      : Object.freeze(offered.trim().split(OFFERED_SEPARATOR)) as string[];
    this.#init = init;
    this.#driver = new SocketDriver(limitsOf(init));
    // A client that leaves while the handler is still deciding: Deno aborts
    // the request's signal, and must then never be asked to upgrade (it
    // would keep that upgrade pending forever, and server.shutdown() would
    // wait for it). Watched only if the handshake is still unanswered once
    // the code that created this connection has run: a handler that accepts
    // at once (no awaited dependency) never pays for the signal, which Deno
    // creates on first use and aborts with a costly DOMException.
    if (toWatch.push(this) === 1) queueMicrotask(watchClients);
  }

  #watchClient(): void {
    const init = this.#init;
    if (init === null) return;
    // Deno also aborts the signal inside upgradeWebSocket and, by its legacy
    // behaviour, once a response was delivered: only an abort before the
    // handshake is being answered means the client left. (Deno's one-time
    // notice about that legacy behaviour is kept out of the log: see
    // _client_gone.ts.)
    init.upgrade = upgradeWatched(init.upgrade);
    const gone = watchClientGone(init.request, () => {
      if (this.#init === null) return;
      // Answer at once (nobody will read it) so the server is not left
      // waiting for this request, and end the connection.
      this.#respond({ response: new Response(null, { status: 499 }) });
      this.#driver.end(1006, "");
    });
    if (gone) this.#driver.end(1006, "");
  }

  static {
    watchClients = () => {
      try {
        // (Code run here may build connections: the list may grow.)
        for (let i = 0; i < toWatch.length; i++) toWatch[i].#watchClient();
      } finally {
        toWatch.length = 0;
      }
    };
    receiving.take = (ws, kind, receiver) =>
      ws.#take(RECEIVE_ACTIONS[kind], receiver);
    receiving.end = (ws, kind, item, quietEnd) =>
      ws.#endData(RECEIVE_ACTIONS[kind], kind, ws.#seen(item), quietEnd);
    connectionControl.end = (ws, code, reason) => {
      if (ws.#applicationState === CONNECTED) ws.#driver.fail(code, reason);
    };
    connectionControl.sendNow = (ws, data) => {
      if (ws.#applicationState !== CONNECTED) return false;
      const driver = ws.#driver;
      if (driver.ended !== null || driver.mustWait(data)) return false;
      try {
        driver.socket!.send(data);
      } catch {
        return false; // closed under us: the slow path reports it
      }
      return true;
    };
    connectionControl.settled = (ws) => ws.#driver.settled;
    connectionControl.preferSubprotocol = (conn, protocol) => {
      if (conn instanceof WebSocket && conn.subprotocols.includes(protocol)) {
        conn.#preferredSubprotocol = protocol;
      }
    };
  }

  /** What the application has received from the client so far. */
  get clientState(): WebSocketState {
    return this.#clientState;
  }

  /** What the application has sent so far. */
  get applicationState(): WebSocketState {
    return this.#applicationState;
  }

  /** The subprotocol chosen in `accept()`, if any. */
  get subprotocol(): string | undefined {
    return this.#subprotocol;
  }

  /**
   * Aborted once the connection is over, whichever side ended it (the reason
   * is a `WebSocketDisconnect`). Pass it to work that should stop with the
   * connection.
   */
  get signal(): AbortSignal {
    return this.#driver.signal;
  }

  /** Resolves with the final close code and reason once the connection is over. */
  get closed(): Promise<{ code: number; reason: string }> {
    return this.#driver.closed;
  }

  /**
   * Receives the next message under the state rules: first the
   * `websocket.connect` message, then `websocket.receive` messages, then one
   * `websocket.disconnect`. Never throws for a disconnect; the typed helpers
   * do.
   *
   * @returns The next message.
   * @throws {Error} If the disconnect message was already received.
   */
  async receive(): Promise<ReceiveMessage> {
    let item = this.#next("receive message");
    if (item === null) return { type: "websocket.connect" };
    if (item instanceof Promise) item = this.#seen(await item);
    if (typeof item === "string") {
      return { type: "websocket.receive", text: item };
    }
    if (item instanceof Disconnect) {
      return {
        type: "websocket.disconnect",
        code: item.code,
        reason: item.reason,
      };
    }
    return { type: "websocket.receive", bytes: item };
  }

  // The receive state machine, in one place. Returns null for the connect
  // message, else the queued item without wrapping it in a message object.
  #next(action: string): null | Inbound | Promise<Inbound> {
    switch (this.#clientState) {
      case CONNECTING:
        this.#clientState = CONNECTED;
        return null;
      case CONNECTED: {
        const item = this.#driver.next();
        // A promise is settled by the awaiting caller, through #seen().
        return item instanceof Promise ? item : this.#seen(item);
      }
      default:
        throw receivedDisconnect(action);
    }
  }

  // The iterators' receive, without a promise: the next item now, or
  // undefined once `receiver` waits for it.
  #take(action: string, receiver: Receiver): Inbound | undefined {
    if (this.#applicationState !== CONNECTED) {
      throw notAccepted(action, this.#applicationState);
    }
    if (this.#clientState === DISCONNECTED) throw receivedDisconnect(action);
    // The connect message, if accept() came through send().
    this.#clientState = CONNECTED;
    return this.#driver.take(receiver);
  }

  #seen(item: Inbound): Inbound {
    if (item instanceof Disconnect) this.#clientState = DISCONNECTED;
    return item;
  }

  // The typed helpers' receive: requires an accepted socket, turns the
  // disconnect into WebSocketDisconnect, and checks the message type. No
  // async frame (an idle connection would keep it): a queued message costs
  // only the returned promise, and a wait one Receipt for the driver to hand
  // the next message to.
  #receiveData(kind: Kind): Promise<string | Uint8Array> {
    const receipt = new Receipt(this, kind);
    try {
      const item = this.#take(RECEIVE_ACTIONS[kind], receipt);
      if (item !== undefined) {
        return Promise.resolve(receiving.end(this, kind, item, false)!);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve) => {
      receipt.resolve = resolve;
    });
  }

  // The second half: the disconnect as an error (or null for the iterators,
  // with no error to build and catch), and the message type checked.
  #endData(
    action: string,
    kind: Kind,
    item: Inbound,
    quietEnd: boolean,
  ): string | Uint8Array | null {
    if (item instanceof Disconnect) {
      if (quietEnd) return null;
      throw new WebSocketDisconnect(item.code, item.reason);
    }
    if (kind !== ANY && (typeof item === "string") !== (kind === TEXT)) {
      throw wrongKind(action, kind, item);
    }
    return item;
  }

  /**
   * Receives a text message.
   *
   * @returns The text.
   * @throws {WebSocketDisconnect} If the client has gone.
   * @throws {TypeError} If the message is binary (it is consumed).
   * @throws {Error} If the socket is not accepted, or already closed.
   */
  receiveText(): Promise<string> {
    return this.#receiveData(TEXT) as Promise<string>;
  }

  /**
   * Receives a binary message.
   *
   * @returns The bytes (a view of the received buffer; no copy).
   * @throws {WebSocketDisconnect} If the client has gone.
   * @throws {TypeError} If the message is text (it is consumed).
   * @throws {Error} If the socket is not accepted, or already closed.
   */
  receiveBytes(): Promise<Uint8Array> {
    return this.#receiveData(BYTES) as Promise<Uint8Array>;
  }

  /**
   * Receives a JSON message: text, or UTF-8 bytes in `"binary"` mode.
   *
   * @param mode Which message type carries the JSON.
   * @returns The parsed value.
   * @throws {SyntaxError} If the message is not valid JSON.
   */
  receiveJson<T = unknown>(mode?: "text" | "binary"): Promise<T>;
  /**
   * Receives a JSON message and validates it with a Standard Schema
   * (zod, valibot, arktype…).
   *
   * @param schema The validator; its output type is the result type.
   * @param mode Which message type carries the JSON.
   * @returns The validated value.
   * @throws {WebSocketRequestValidationError} If validation fails; the
   * connection stays open, so a handler may answer and go on.
   */
  receiveJson<T>(
    schema: StandardSchemaV1<unknown, T>,
    mode?: "text" | "binary",
  ): Promise<T>;
  async receiveJson<T>(
    schemaOrMode?: StandardSchemaV1<unknown, T> | "text" | "binary",
    mode: "text" | "binary" = "text",
  ): Promise<T> {
    let schema: StandardSchemaV1<unknown, T> | undefined;
    if (typeof schemaOrMode === "string") mode = schemaOrMode;
    else schema = schemaOrMode;
    assertMode("receive JSON", mode);
    const item = await this.#receiveData(ANY);
    return await this.#parseJson(item!, mode, schema);
  }

  // A received message as JSON, validated when a schema is given.
  #parseJson<T>(
    item: string | Uint8Array,
    mode: "text" | "binary",
    schema: StandardSchemaV1<unknown, T> | undefined,
  ): T | Promise<T> {
    let text: string;
    if (mode === "text") {
      if (typeof item !== "string") {
        throw new TypeError(
          `Cannot receive JSON: expected a text message, got ${
            describe(item)
          }: pass mode "binary" for JSON in binary messages`,
        );
      }
      text = item;
    } else {
      if (typeof item === "string") {
        throw new TypeError(
          `Cannot receive JSON: expected a binary message, got ${
            describe(item)
          }: use mode "text" for JSON in text messages`,
        );
      }
      text = strictDecoder.decode(item);
    }
    const value = JSON.parse(text);
    if (schema === undefined) return value as T;
    return validate(schema, value, ["body"]);
  }

  /**
   * Yields text messages until the client disconnects, then ends quietly.
   *
   * @returns The messages.
   */
  iterText(): AsyncIterableIterator<string> {
    return new MessageIterator(this, TEXT) as AsyncIterableIterator<string>;
  }

  /**
   * Yields binary messages until the client disconnects, then ends quietly.
   *
   * @returns The messages.
   */
  iterBytes(): AsyncIterableIterator<Uint8Array> {
    return new MessageIterator(this, BYTES) as AsyncIterableIterator<
      Uint8Array
    >;
  }

  /**
   * Yields JSON text messages until the client disconnects, then ends
   * quietly.
   *
   * @returns The parsed values.
   */
  iterJson<T = unknown>(): AsyncIterableIterator<T>;
  /**
   * Yields JSON text messages validated by a Standard Schema until the client
   * disconnects, then ends quietly. An invalid message throws
   * `WebSocketRequestValidationError` out of the loop.
   *
   * @param schema The validator.
   * @returns The validated values.
   */
  iterJson<T>(schema: StandardSchemaV1<unknown, T>): AsyncIterableIterator<T>;
  async *iterJson<T>(
    schema?: StandardSchemaV1<unknown, T>,
  ): AsyncIterableIterator<T> {
    for await (const data of new MessageIterator(this, ANY)) {
      yield await this.#parseJson(data, "text", schema);
    }
  }

  /**
   * Accepts the handshake: the upgrade response goes to the client, and the
   * promise resolves once the socket is open.
   *
   * @param options The subprotocol (one the client offered) and extra
   * response headers.
   * @throws {Error} If already accepted or closed, or the subprotocol was not
   * offered.
   * @throws {TypeError} If a header name or value is invalid, or reserved for
   * the handshake.
   */
  accept(options: WebSocketAcceptOptions = {}): Promise<void> {
    // What receive() and send() would do, without their message objects.
    try {
      if (this.#clientState === CONNECTING) this.#clientState = CONNECTED;
      return this.#accept({
        type: "websocket.accept",
        subprotocol: options.subprotocol ?? this.#preferredSubprotocol,
        headers: options.headers,
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends a message under the state rules: before acceptance only
   * `websocket.accept` or `websocket.close`; after it only `websocket.send`
   * or `websocket.close`; nothing after a close.
   *
   * @param message The message.
   * @throws {Error} If the message is not allowed in the current state.
   * @throws {WebSocketDisconnect} If the client has gone.
   */
  async send(message: SendMessage): Promise<void> {
    switch (message?.type) {
      case "websocket.send": {
        const data = message.text ?? message.bytes;
        if (typeof data !== "string" && !isBinary(data)) {
          throw new TypeError(
            'Cannot send message: "websocket.send" needs a string "text" or Uint8Array "bytes"',
          );
        }
        return await this.#sendData("send message", data);
      }
      case "websocket.accept":
        return await this.#accept(message);
      case "websocket.close":
        return this.#close(message.code ?? 1000, message.reason ?? "");
      default: {
        const type = (message as { type?: unknown })?.type;
        throw new TypeError(
          `Cannot send message: unknown message type ${
            JSON.stringify(type)
          }: expected "websocket.accept", "websocket.send" or "websocket.close"`,
        );
      }
    }
  }

  // Hands the handshake's outcome to the server, once.
  #respond(handshake: WebSocketHandshake): void {
    const init = this.#init;
    this.#init = null;
    init?.respond(handshake);
  }

  // Throws synchronously; resolves once the socket is open.
  #accept(message: AcceptMessage): Promise<void> {
    if (this.#applicationState !== CONNECTING) {
      throw new Error(
        `Cannot accept: WebSocket is already ${
          this.#applicationState === CONNECTED ? "accepted" : "closed"
        } (state ${
          STATE_NAMES[this.#applicationState]
        }): call accept() once, before sending`,
      );
    }
    const { subprotocol } = message;
    if (subprotocol !== undefined && !this.subprotocols.includes(subprotocol)) {
      throw new Error(
        `Cannot accept: subprotocol "${subprotocol}" was not offered by the client (offered: ${
          this.subprotocols.map((p) => `"${p}"`).join(", ") || "none"
        }): choose one of ws.subprotocols`,
      );
    }
    const extra = acceptHeaders(message.headers);
    const driver = this.#driver;
    const ended = driver.ended;
    if (ended !== null) {
      // The client gave up while the handler was still deciding.
      this.#applicationState = DISCONNECTED;
      throw new WebSocketDisconnect(ended.code, ended.reason);
    }
    const init = this.#init!;
    // From here the handshake is being answered: Deno aborts the request's
    // signal inside upgradeWebSocket, which must not read as the client
    // leaving.
    this.#init = null;
    // Not called as a method of `init`: Deno aborts the request's signal
    // in there with an error whose stack trace would keep `init` (and the
    // whole handshake) alive as long as the connection.
    const { upgrade, request, idleTimeout } = init;
    snapshot.packHeaders(this);
    const { socket, response } = upgrade(request, {
      protocol: subprotocol,
      idleTimeout,
    });
    this.#applicationState = CONNECTED;
    this.#subprotocol = subprotocol;
    // Listeners go on in this same turn, before anything can await.
    const opened = driver.attach(socket);
    if (extra !== undefined) {
      for (const [name, value] of extra) response.headers.append(name, value);
    }
    init.respond({ response });
    return opened;
  }

  #close(code: number, reason: string): void {
    const state = this.#applicationState;
    if (state !== CONNECTING && state !== CONNECTED) {
      throw notAccepted("close", state);
    }
    assertCloseFrame("close", code, reason);
    this.#applicationState = DISCONNECTED;
    const driver = this.#driver;
    if (state === CONNECTING) {
      this.#respond({
        response: new Response(null, { status: 403 }),
        close: { code, reason },
      });
      driver.end(code, reason);
      return;
    }
    // Closing after the client has gone is harmless: nothing to send.
    if (driver.ended === null) driver.socket!.close(code, reason);
  }

  // Sends at once when the buffer is under the high-water mark (no async
  // step: the shared resolved promise is returned), else after draining.
  #sendData(
    action: string,
    data: string | Uint8Array | ArrayBuffer,
  ): Promise<void> {
    if (this.#applicationState !== CONNECTED) {
      return Promise.reject(
        this.#applicationState === CONNECTING
          ? notAccepted(action, CONNECTING)
          : new Error(
            `Cannot ${action}: a close message was already sent (state ${
              STATE_NAMES[this.#applicationState]
            }): do not send after close()`,
          ),
      );
    }
    const driver = this.#driver;
    if (driver.mustWait(data)) return this.#sendAfterDrain(driver, data);
    return this.#write(driver, data);
  }

  async #sendAfterDrain(
    driver: SocketDriver,
    data: string | Uint8Array | ArrayBuffer,
  ): Promise<void> {
    // Checked again after each drain: other senders may have filled the
    // buffer in the meantime, and this send's size is then accounted for.
    do await this.#drain(driver); while (driver.mustWait(data));
    return await this.#write(driver, data);
  }

  #write(
    driver: SocketDriver,
    data: string | Uint8Array | ArrayBuffer,
  ): Promise<void> {
    const ended = driver.ended;
    if (ended !== null) {
      this.#applicationState = DISCONNECTED;
      return Promise.reject(new WebSocketDisconnect(ended.code, ended.reason));
    }
    try {
      driver.socket!.send(data);
    } catch {
      // The socket closed under us (Deno throws InvalidStateError).
      this.#applicationState = DISCONNECTED;
      return Promise.reject(new WebSocketDisconnect(1006, ""));
    }
    return SENT;
  }

  async #drain(driver: SocketDriver): Promise<void> {
    try {
      await driver.drain();
    } catch (error) {
      if (error instanceof WebSocketDisconnect) {
        this.#applicationState = DISCONNECTED;
      }
      throw error;
    }
  }

  /**
   * Sends a text message; waits first while the send buffer is over the
   * high-water mark.
   *
   * @param data The text.
   * @throws {WebSocketDisconnect} If the client has gone.
   * @throws {Error} If the socket is not accepted, or already closed.
   */
  sendText(data: string): Promise<void> {
    if (typeof data !== "string") {
      return Promise.reject(
        new TypeError(
          `Cannot send text: expected a string, got ${typeof data}: use sendBytes() or sendJson() for other data`,
        ),
      );
    }
    return this.#sendData("send text", data);
  }

  /**
   * Sends a binary message (the bytes are not copied); waits first while the
   * send buffer is over the high-water mark.
   *
   * @param data The bytes.
   * @throws {WebSocketDisconnect} If the client has gone.
   * @throws {Error} If the socket is not accepted, or already closed.
   */
  sendBytes(data: Uint8Array | ArrayBuffer): Promise<void> {
    if (!isBinary(data)) {
      return Promise.reject(
        new TypeError(
          `Cannot send bytes: expected a Uint8Array or ArrayBuffer, got ${typeof data}: use sendText() for strings`,
        ),
      );
    }
    return this.#sendData("send bytes", data);
  }

  /**
   * Sends a value as compact JSON: a text message, or UTF-8 bytes in
   * `"binary"` mode.
   *
   * @param data Any JSON-serialisable value.
   * @param mode Which message type carries the JSON.
   * @throws {TypeError} If the value cannot be serialised (nothing is sent).
   * @throws {WebSocketDisconnect} If the client has gone.
   */
  sendJson(data: unknown, mode: "text" | "binary" = "text"): Promise<void> {
    try {
      assertMode("send JSON", mode);
      const text = stringifyJson(data);
      return this.#sendData(
        "send JSON",
        mode === "text" ? text : encoder.encode(text),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Closes the connection with a code and reason. Before `accept()` this
   * refuses the handshake (HTTP 403). After the client has gone it does
   * nothing.
   *
   * @param code 1000, 1001–1014 except 1004–1006, or 3000–4999.
   * @param reason At most 123 UTF-8 bytes.
   * @throws {RangeError} If the code or reason may not be sent.
   * @throws {Error} If a close message or response was already sent.
   */
  close(code = 1000, reason = ""): Promise<void> {
    return this.send({ type: "websocket.close", code, reason });
  }

  /**
   * Answers the handshake with `response` instead of upgrading: the client
   * gets exactly this response. Only before `accept()`.
   *
   * @param response Any HTTP response (status 200–599).
   * @throws {Error} If already accepted, closed or responded.
   */
  sendDenialResponse(response: Response): Promise<void> {
    const state = this.#applicationState;
    if (state !== CONNECTING) {
      return Promise.reject(
        new Error(
          `Cannot send denial response: WebSocket is already ${
            state === CONNECTED ? "accepted" : "closed"
          } (state ${
            STATE_NAMES[state]
          }): a denial response is only possible before accept()`,
        ),
      );
    }
    if (!(response instanceof Response)) {
      return Promise.reject(
        new TypeError(
          "Cannot send denial response: expected a Response object",
        ),
      );
    }
    this.#applicationState = RESPONSE;
    this.#respond({ response });
    this.#applicationState = DISCONNECTED;
    this.#driver.end(1006, "");
    return Promise.resolve();
  }
}

/**
 * Options of {@linkcode WebSocket.accept}.
 *
 * @example Choosing a subprotocol
 * ```ts
 * import { App, type WebSocketAcceptOptions } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => {
 *   const options: WebSocketAcceptOptions = { subprotocol: ws.subprotocols[0], headers: { "x-server": "wsapi" } };
 *   await ws.accept(options);
 * });
 * await using session = await new TestClient(app).websocketConnect("/ws", { subprotocols: ["graphql-ws"] });
 * assert.equal(session.acceptedSubprotocol, "graphql-ws");
 * assert.equal(session.responseHeaders.get("x-server"), "wsapi");
 * ```
 */
export interface WebSocketAcceptOptions {
  /** The chosen subprotocol; must be one of `ws.subprotocols`. */
  subprotocol?: string;
  /** Extra headers for the 101 response (e.g. `set-cookie`). */
  headers?: HeadersInit;
}

function isBinary(data: unknown): data is Uint8Array | ArrayBuffer {
  return data instanceof Uint8Array || data instanceof ArrayBuffer;
}

function stringifyJson(data: unknown): string {
  const text = JSON.stringify(data);
  if (text === undefined) {
    throw new TypeError(
      `Cannot send JSON: ${typeof data} has no JSON form: send an object, array, string, number, boolean or null`,
    );
  }
  return text;
}

function acceptHeaders(init: HeadersInit | undefined): Headers | undefined {
  if (init === undefined) return undefined;
  let headers: Headers;
  try {
    headers = new Headers(init);
  } catch (error) {
    throw new TypeError(
      `Cannot accept: invalid response header: ${
        (error as Error).message
      }: header names must be tokens and values must not contain CR, LF or NUL`,
    );
  }
  for (const name of headers.keys()) {
    if (RESERVED_ACCEPT_HEADERS.has(name)) {
      throw new TypeError(
        `Cannot accept: header "${name}" is set by the handshake itself${
          name === "sec-websocket-protocol"
            ? ": pass { subprotocol } instead"
            : ""
        }`,
      );
    }
  }
  return headers;
}

/**
 * Validates `value` with a Standard Schema; failures become a
 * `WebSocketRequestValidationError` located under `loc`.
 */
async function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  loc: (string | number)[],
): Promise<T> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues === undefined) return result.value;
  const errors: ValidationIssue[] = result.issues.map((issue) => ({
    loc: [
      ...loc,
      ...(issue.path ?? []).map((part) =>
        typeof part === "object" ? part.key as string | number : part as string
      ),
    ],
    msg: issue.message,
    type: "value_error",
    input: value,
  }));
  throw new WebSocketRequestValidationError(errors);
}
