/**
 * {@linkcode WebSocket}: one connection from the handshake to the close,
 * with its Starlette-style state machine, typed helpers and limits.
 *
 * @module
 */
// About 700 lines of code, over the ~600 the house aims at, for one concept:
// the state machine and the typed helpers that take its steps without
// message objects (which the hot path cannot afford). What could leave has:
// the typed waiters (_receive.ts), the queue and back-pressure
// (_socket_driver.ts), the handshake checks (_handshake.ts), the typed
// message protocol (_protocol_session.ts: messages()/emit() only delegate).
import { WebSocketDisconnect } from "./errors.ts";
import { HTTPConnection, type HTTPConnectionInit } from "./connection.ts";
import {
  type AcceptMessage,
  type CloseMessage,
  type ReceiveMessage,
  type SendMessage,
  WebSocketState,
} from "./messages.ts";
import type { UpgradeFunction, WebSocketHandshake } from "./upgrade.ts";
import {
  Disconnect,
  type DriverLimits,
  type Inbound,
  type Receiver,
  SocketDriver,
} from "./_socket_driver.ts";
import {
  ANY,
  BYTES,
  type Data,
  describe,
  type Kind,
  MessageIterator,
  Receipt,
  RECEIVE_ACTIONS,
  TEXT,
  wrongKind,
} from "./_receive.ts";
import { assertCloseFrame } from "./_close.ts";
import { parseSubprotocols } from "./_handshake.ts";
import { watchClientLeaving } from "./_deno.ts";
import {
  MAX_MESSAGE_SIZE,
  MAX_QUEUED_BYTES,
  MAX_QUEUED_MESSAGES,
  SEND_HIGH_WATER_MARK,
} from "./_limits.ts";
import { encoder, strictDecoder } from "./_utf8.ts";
import type { StandardSchemaV1 } from "./_standard_schema.ts";
import { validate } from "./_validate.ts";
import type {
  EmitArgs,
  IncomingMessage,
  InvalidMessagePolicy,
  Protocol,
} from "./protocol.ts";
import { ProtocolSession } from "./_protocol_session.ts";
import type { DeliveryObserver } from "./_delivery_lag.ts";
import {
  parseResume,
  RESUME_PARAM,
  type ResumePositions,
} from "./_protocol_wire.ts";
import {
  ACCEPTED,
  DATA,
  DEFER_URL,
  END,
  OBSERVERS,
  ON_PROTOCOL,
  OPENING,
  PACK_HEADERS,
  PREFER_SUBPROTOCOL,
  SEND_NOW,
  SETTLED,
  TAKE,
} from "./_symbols.ts";

export type {
  StandardSchemaV1,
  StandardSchemaV1Issue,
  StandardSchemaV1Props,
  StandardSchemaV1Result,
} from "./_standard_schema.ts";

const { CONNECTING, CONNECTED, DISCONNECTED, RESPONSE } = WebSocketState;
const STATE_NAMES = ["CONNECTING", "CONNECTED", "DISCONNECTED", "RESPONSE"];

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
  /** Unread messages; one more closes with 1008. @default {65536} */
  maxQueuedMessages?: number;
  /** Memory unread messages may hold, in bytes; more closes with 1008. @default {4194304} */
  maxQueuedBytes?: number;
  /** Bytes buffered before `send*()` waits. @default {1048576} */
  sendHighWaterMark?: number;
  /** Seconds; passed to `upgrade`. */
  idleTimeout?: number;
  /** The route's message protocol, for `messages()` and `emit()`. */
  protocol?: Protocol;
  /** What an invalid protocol message gets. @default {"error"} */
  onInvalid?: InvalidMessagePolicy;
  /**
   * Where the connection's warnings go: the App passes its logger for a
   * request Deno serves (once per process, it says why Deno may print a
   * notice about its legacy `request.signal` behaviour).
   * @default {undefined} (no warnings)
   */
  logger?: { warn(...data: unknown[]): void };
}

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

// What sendDenialResponse() hands the state machine: ASGI's
// "websocket.http.response", which send() does not take.
const DENIAL = "denial";
interface DenialMessage {
  type: typeof DENIAL;
  response: Response;
}

// What a send that went out at once returns: one settled promise for all.
const SENT: Promise<void> = Promise.resolve();

// Connections of one route have the same limits: they share one object.
let lastLimits: DriverLimits | undefined;

function limitsOf(init: WebSocketInit): DriverLimits {
  const maxMessageSize = init.maxMessageSize ?? MAX_MESSAGE_SIZE;
  const maxQueuedMessages = init.maxQueuedMessages ?? MAX_QUEUED_MESSAGES;
  const maxQueuedBytes = init.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  const sendHighWaterMark = init.sendHighWaterMark ?? SEND_HIGH_WATER_MARK;
  const last = lastLimits;
  if (
    last !== undefined && last.maxMessageSize === maxMessageSize &&
    last.maxQueuedMessages === maxQueuedMessages &&
    last.maxQueuedBytes === maxQueuedBytes &&
    last.sendHighWaterMark === sendHighWaterMark
  ) return last;
  return lastLimits = Object.freeze({
    maxMessageSize,
    maxQueuedMessages,
    maxQueuedBytes,
    sendHighWaterMark,
  });
}

function receivedDisconnect(action: string): Error {
  return new Error(
    `Cannot ${action}: the disconnect message was already received (client state DISCONNECTED): stop receiving once the client has gone`,
  );
}
// Connections whose client is watched once the code that built them has
// run: one microtask for all built in the same turn, no closure each.
const toWatch: WebSocket[] = [];

/**
 * One WebSocket connection, from the handshake to the close.
 *
 * It has two states: `clientState` moves only as messages are received
 * (CONNECTING → CONNECTED on the connect message, → DISCONNECTED on the
 * disconnect message), `applicationState` only as messages are sent
 * (CONNECTING → CONNECTED on accept, → DISCONNECTED on close or once a send
 * finds the client gone, → RESPONSE → DISCONNECTED on a denial response).
 * `receive()` and `send()` are the state machine; the typed helpers take the
 * same steps without building message objects.
 *
 * - Closing (or returning) before `accept()` refuses the handshake with 403.
 * - Incoming messages queue until read: more than `maxQueuedMessages` unread,
 *   or more memory than `maxQueuedBytes`, closes with 1008; one larger than
 *   `maxMessageSize` closes with 1009.
 * - `send*()` waits while more than `sendHighWaterMark` bytes are buffered.
 * - Once the client has gone, the typed helpers throw
 *   `WebSocketDisconnect(code, reason)`, sends included.
 * - On a route with a `protocol` (see `defineProtocol()`), `messages()`,
 *   `receiveMessage()` and `emit()` read and write its typed messages;
 *   `WebSocket<P>` carries the protocol's type.
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
// The protocol parameter defaults to `any`: a typed WebSocket<typeof chat>
// must still pass wherever a plain WebSocket is taken (broadcast.join(),
// dependencies), and TypeScript measures P as invariant (keyof in a union).
// deno-lint-ignore no-explicit-any
export class WebSocket<P extends Protocol = any> extends HTTPConnection {
  /** The subprotocols the client offered, in its order (a frozen list). */
  readonly subprotocols: string[];
  // Built on first use of messages()/emit() on a protocol route.
  #protocol: ProtocolSession | Protocol | undefined;
  #onInvalid: InvalidMessagePolicy;
  #observers: readonly DeliveryObserver[] | undefined = undefined;
  // clientState changes only in #clientMoves() (receiving);
  // applicationState only in #sendControl() (accept, close, a denial
  // response) and #lost() (a send that found the client gone).
  #clientState: WebSocketState = CONNECTING;
  #applicationState: WebSocketState = CONNECTING;
  #init: WebSocketInit | null;
  #driver: SocketDriver;
  // null once accepted without a subprotocol: undefined means not accepted.
  #subprotocol: string | null | undefined;
  #preferredSubprotocol: string | undefined;
  // Parsed on first read of `resume`: null until then.
  #resume: ResumePositions | undefined | null = null;

  /**
   * Builds a connection for an upgrade request; applications receive them
   * from the router.
   *
   * @param init What the connection is built from.
   */
  constructor(init: WebSocketInit) {
    super(init);
    this[DEFER_URL]();
    // Deno reads a request's headers one by one from the runtime, until
    // the upgrade closes the request: a read of them all before (any
    // method but get()) makes Deno copy them into the Headers object, which
    // then serves them until accept() packs them. has() makes that copy
    // with the least besides. (The App passes headers the request does not
    // hold: see _headers.ts.)
    init.headers.has("sec-websocket-protocol");
    this.subprotocols = parseSubprotocols(
      init.headers.get("sec-websocket-protocol"),
    );
    this.#init = init;
    this.#protocol = init.protocol;
    this.#onInvalid = init.onInvalid ?? "error";
    this.#driver = new SocketDriver(limitsOf(init));
    // A client that leaves while the handler is still deciding: Deno aborts
    // the request's signal, and must then never be asked to upgrade (it
    // would keep that upgrade pending forever, and server.shutdown() would
    // wait for it). Watched only if the handshake is still unanswered once
    // the code that created this connection has run: a handler that accepts
    // at once (no awaited dependency) never pays for the signal, which Deno
    // creates on first use and aborts with a costly DOMException.
    if (toWatch.push(this) === 1) queueMicrotask(WebSocket.#watchClients);
  }

  #watchClient(): void {
    const init = this.#init;
    if (init === null) return;
    watchClientLeaving(init.request, (already) => {
      // An abort once the handshake is being answered is Deno's own.
      if (this.#init === null) return;
      // Answer at once (nobody will read it) so the server is not left
      // waiting for this request, and end the connection.
      if (!already) {
        this.#respond({ response: new Response(null, { status: 499 }) });
      }
      this.#driver.end(1006, "");
    }, init.logger);
  }

  static #watchClients(): void {
    try {
      // (Code run here may build connections: the list may grow.)
      for (let i = 0; i < toWatch.length; i++) toWatch[i].#watchClient();
    } finally {
      toWatch.length = 0;
    }
  }

  /**
   * Ends an accepted connection as if it had dropped: the socket closes with
   * `code` and `reason`, the handler's next receive throws
   * `WebSocketDisconnect(code, reason)` after what was already queued, and
   * sends throw it too. Does nothing before accept or after the end. (The
   * app's shutdown, broadcast's slow-member policy.)
   *
   * @ignore
   */
  [END](code: number, reason: string): void {
    if (this.#applicationState === CONNECTED) this.#driver.fail(code, reason);
  }

  /**
   * Sends `data` at once if the connection is accepted, open and under its
   * send high-water mark, with no promise; returns whether it did. When it
   * returns false, nothing was sent: `sendText`/`sendBytes` wait or report
   * why. (Broadcast's fan-out.)
   *
   * @ignore
   */
  [SEND_NOW](data: string | Uint8Array): boolean {
    if (this.#applicationState !== CONNECTED) return false;
    const driver = this.#driver;
    if (driver.ended !== null || driver.mustWait(data)) return false;
    try {
      driver.socket!.send(data);
    } catch {
      return false; // closed under us: the slow path reports it
    }
    return true;
  }

  /**
   * Whether the connection is over on both sides (`closed` has settled).
   *
   * @ignore
   */
  [SETTLED](): boolean {
    return this.#driver.settled;
  }

  /**
   * The connection's session observers, set by the app when it accepts an
   * observed connection (undefined otherwise); broadcast reports the lag
   * of its deliveries to them.
   *
   * @ignore
   */
  get [OBSERVERS](): readonly DeliveryObserver[] | undefined {
    return this.#observers;
  }

  /** @ignore */
  set [OBSERVERS](observers: readonly DeliveryObserver[] | undefined) {
    this.#observers = observers;
  }

  /**
   * Whether the route has a message protocol: broadcast sends its members
   * the wire format's envelope.
   *
   * @ignore
   */
  [ON_PROTOCOL](): boolean {
    return this.#protocol !== undefined;
  }

  /**
   * Makes `accept()` without a subprotocol choose `protocol`, if the client
   * offered it. (bearerFromSubprotocol.)
   *
   * @ignore
   */
  [PREFER_SUBPROTOCOL](protocol: string): void {
    if (this.subprotocols.includes(protocol)) {
      this.#preferredSubprotocol = protocol;
    }
  }

  /**
   * While `accept()` has upgraded and the socket is still opening: a promise
   * that resolves once it opened or the connection is over; else null.
   *
   * @ignore
   */
  [OPENING](): Promise<unknown> | null {
    const socket = this.#driver.socket;
    if (this.#applicationState !== CONNECTED || socket?.readyState !== 0) {
      return null;
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    socket.addEventListener("open", {
      handleEvent() {
        socket.removeEventListener("open", this);
        resolve();
      },
    });
    return Promise.race([promise, this.#driver.closed]);
  }

  /**
   * Whether `accept()` has upgraded the connection (whatever came after).
   *
   * @ignore
   */
  [ACCEPTED](): boolean {
    return this.#subprotocol !== undefined;
  }

  /** @ignore */
  [TAKE](kind: Kind, receiver: Receiver): Inbound | undefined {
    return this.#take(RECEIVE_ACTIONS[kind], receiver);
  }

  /** @ignore */
  [DATA](kind: Kind, item: Inbound, quietEnd: boolean): Data | null {
    return this.#endData(
      RECEIVE_ACTIONS[kind],
      kind,
      this.#seen(item),
      quietEnd,
    );
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
    return this.#subprotocol ?? undefined;
  }

  /**
   * Where the client asks to resume its broadcast channels: the last
   * position `{ epoch, offset }` it received per channel, which the typed
   * client (`connect()` of `@wsapi/wsapi/client`, with `reconnect`) sends
   * when it reconnects, in the query parameter `wsapi-resume` (see the
   * README's wire format). Undefined on a first connection. Pass an entry
   * to `broadcast.join(channel, ws, { since: ws.resume?.[channel] })`: the
   * client then gets what it missed, then live messages. Malformed entries
   * are left out (the value comes from the network).
   *
   * @example Resuming a room
   * ```ts
   * import { App } from "@wsapi/wsapi";
   * import { TestClient } from "@wsapi/wsapi/testing";
   * import assert from "node:assert/strict";
   *
   * const app = new App();
   * app.websocket("/room", async (ws) => {
   *   await ws.accept();
   *   await ws.sendJson(ws.resume?.["room"] ?? null);
   * });
   * const client = new TestClient(app);
   * await using first = await client.websocketConnect("/room");
   * assert.equal(await first.receiveJson(), null);
   * const resume = encodeURIComponent(JSON.stringify({ room: { epoch: "e1", offset: 7 } }));
   * await using again = await client.websocketConnect(`/room?wsapi-resume=${resume}`);
   * assert.deepEqual(await again.receiveJson(), { epoch: "e1", offset: 7 });
   * ```
   */
  get resume(): ResumePositions | undefined {
    if (this.#resume === null) {
      this.#resume = parseResume(this.queryParams.get(RESUME_PARAM));
    }
    return this.#resume;
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

  // The client side of the state machine: the only place clientState
  // changes. Before a receive (no item): throws once the disconnect was
  // received, and moves past the connect message (CONNECTING → CONNECTED),
  // returning true if this receive is it. With an item taken from the
  // queue: a disconnect ends the client side (→ DISCONNECTED).
  #clientMoves(action: string, item?: Inbound): boolean {
    if (item !== undefined) {
      if (item instanceof Disconnect) this.#clientState = DISCONNECTED;
      return false;
    }
    switch (this.#clientState) {
      case CONNECTING:
        this.#clientState = CONNECTED;
        return true;
      case CONNECTED:
        return false;
      default:
        throw receivedDisconnect(action);
    }
  }

  // receive()'s step: null for the connect message, else the queued item
  // without wrapping it in a message object.
  #next(action: string): null | Inbound | Promise<Inbound> {
    if (this.#clientMoves(action)) return null;
    const item = this.#driver.next();
    // A promise is settled by the awaiting caller, through #seen().
    return item instanceof Promise ? item : this.#seen(item);
  }

  // The iterators' receive, without a promise: the next item now, or
  // undefined once `receiver` waits for it.
  #take(action: string, receiver: Receiver): Inbound | undefined {
    if (this.#applicationState !== CONNECTED) {
      throw notAccepted(action, this.#applicationState);
    }
    // (Past the connect message, if accept() came through send().)
    this.#clientMoves(action);
    return this.#driver.take(receiver);
  }

  #seen(item: Inbound): Inbound {
    this.#clientMoves("receive", item);
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
        return Promise.resolve(this[DATA](kind, item, false)!);
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

  #session(action: string): ProtocolSession {
    const state = this.#applicationState;
    if (state !== CONNECTED) throw notAccepted(action, state);
    const protocol = this.#protocol;
    if (protocol instanceof ProtocolSession) return protocol;
    if (protocol === undefined) {
      throw new Error(
        `Cannot ${action}: the route has no protocol: pass { protocol: defineProtocol(...) } in its options, or use receiveJson()/sendJson()`,
      );
    }
    return this.#protocol = new ProtocolSession(
      this,
      protocol,
      this.#onInvalid,
    );
  }

  /**
   * Yields the messages of the route's protocol until the client
   * disconnects, then ends quietly. A message that is not JSON, has an
   * unknown `type` or fails its schema is answered with an `error` message
   * and skipped (or closes the connection, with route option
   * `onInvalid: "close"`); the loop goes on.
   *
   * @returns The messages, discriminated by `type`; requests have
   * `reply()` and `fail()`.
   * @throws {Error} If the route has no protocol, or the socket is not
   * accepted.
   */
  async *messages(): AsyncIterableIterator<IncomingMessage<P>> {
    const session = this.#session("receive message");
    while (true) {
      const message = await session.next();
      if (message === null) return;
      yield message as IncomingMessage<P>;
    }
  }

  /**
   * Receives the next valid message of the route's protocol (invalid ones
   * are handled as in `messages()`).
   *
   * @returns The message.
   * @throws {WebSocketDisconnect} If the client has gone.
   * @throws {Error} If the route has no protocol, or the socket is not
   * accepted.
   */
  async receiveMessage(): Promise<IncomingMessage<P>> {
    const session = this.#session("receive message");
    const message = await session.next();
    if (message === null) throw session.ended!;
    return message as IncomingMessage<P>;
  }

  /**
   * Sends a message of the route's protocol: `{"type": type, "data": data}`,
   * with `data` validated against the protocol's `sends[type]` schema (and
   * sent as the schema outputs it).
   *
   * @param args The type (declared in `sends`) and its payload.
   * @throws {TypeError} If `type` is not declared or `data` does not match
   * (nothing is sent).
   * @throws {WebSocketDisconnect} If the client has gone.
   * @throws {Error} If the route has no protocol, or the socket is not
   * accepted.
   */
  emit(...[type, data]: EmitArgs<P>): Promise<void> {
    try {
      return this.#session("emit message").emit(type, data);
    } catch (error) {
      return Promise.reject(error);
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
      if (this.#clientState === CONNECTING) this.#clientMoves("accept");
      return this.#sendControl({
        type: "websocket.accept",
        subprotocol: options.subprotocol ?? this.#preferredSubprotocol,
        headers: options.headers,
      })!;
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
      case "websocket.close":
        return await this.#sendControl(message);
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

  // The application side of the state machine: every change of
  // applicationState but #lost()'s (a send that found the client gone).
  // Throws synchronously; accept's promise resolves once the socket is open.
  #sendControl(
    message: AcceptMessage | CloseMessage | DenialMessage,
  ): Promise<void> | undefined {
    const state = this.#applicationState;
    switch (message.type) {
      case "websocket.accept": {
        if (state !== CONNECTING) {
          throw new Error(
            `Cannot accept: WebSocket is already ${
              state === CONNECTED ? "accepted" : "closed"
            } (state ${
              STATE_NAMES[state]
            }): call accept() once, before sending`,
          );
        }
        const { subprotocol } = message;
        if (
          subprotocol !== undefined && !this.subprotocols.includes(subprotocol)
        ) {
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
          throw this.#lost(ended.code, ended.reason);
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
        this[PACK_HEADERS]();
        const { socket, response } = upgrade(request, {
          protocol: subprotocol,
          idleTimeout,
        });
        this.#applicationState = CONNECTED;
        this.#subprotocol = subprotocol ?? null;
        // Listeners go on in this same turn, before anything can await.
        const opened = driver.attach(socket);
        if (extra !== undefined) {
          for (const [name, value] of extra) {
            response.headers.append(name, value);
          }
        }
        init.respond({ response });
        return opened;
      }
      case "websocket.close": {
        const code = message.code ?? 1000;
        const reason = message.reason ?? "";
        if (state !== CONNECTING && state !== CONNECTED) {
          throw notAccepted("close", state);
        }
        assertCloseFrame("close", code, reason);
        // Requests still unanswered get their one answer before the close
        // frame (sent while the state still allows it).
        if (this.#protocol instanceof ProtocolSession) this.#protocol.closing();
        this.#applicationState = DISCONNECTED;
        const driver = this.#driver;
        if (state === CONNECTING) {
          this.#respond({
            response: new Response(null, { status: 403 }),
            close: { code, reason },
          });
          driver.end(code, reason);
          return undefined;
        }
        // Closing after the client has gone is harmless: nothing to send. (The
        // driver makes a close on a socket still connecting once it opens.)
        if (driver.ended === null) driver.close(code, reason);
        return undefined;
      }
      case DENIAL: {
        if (state !== CONNECTING) {
          throw new Error(
            `Cannot send denial response: WebSocket is already ${
              state === CONNECTED ? "accepted" : "closed"
            } (state ${
              STATE_NAMES[state]
            }): a denial response is only possible before accept()`,
          );
        }
        this.#applicationState = RESPONSE;
        this.#respond({ response: message.response });
        this.#applicationState = DISCONNECTED;
        this.#driver.end(1006, "");
        return undefined;
      }
    }
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
      return Promise.reject(this.#lost(ended.code, ended.reason));
    }
    try {
      driver.socket!.send(data);
    } catch {
      // The socket closed under us (Deno throws InvalidStateError).
      return Promise.reject(this.#lost(1006, ""));
    }
    return SENT;
  }

  async #drain(driver: SocketDriver): Promise<void> {
    try {
      await driver.drain();
    } catch (error) {
      throw error instanceof WebSocketDisconnect
        ? this.#lost(error.code, error.reason)
        : error;
    }
  }

  // A send found the client gone: the application side is over too (as
  // Starlette's send() on a closed transport). Returns what to throw.
  #lost(code: number, reason: string): WebSocketDisconnect {
    this.#applicationState = DISCONNECTED;
    return new WebSocketDisconnect(code, reason);
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
    try {
      if (
        this.#applicationState === CONNECTING && !(response instanceof Response)
      ) {
        throw new TypeError(
          "Cannot send denial response: expected a Response object",
        );
      }
      this.#sendControl({ type: DENIAL, response });
    } catch (error) {
      return Promise.reject(error);
    }
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
