/**
 * The typed client of a protocol route: `connect(protocol, url)` gives
 * `emit()`, `messages()` and `request()`, typed and validated by the same
 * {@linkcode Protocol} the server uses. Web APIs only (no `Deno.*`): it runs
 * in browsers, in Deno, and over `TestClient.WebSocket` in tests.
 *
 * @example Talking to a protocol route in memory
 * ```ts
 * import { App, defineProtocol } from "@wsapi/wsapi";
 * import { connect } from "@wsapi/wsapi/client";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const echo = defineProtocol({
 *   receives: { say: z.object({ text: z.string() }) },
 *   sends: { said: z.object({ text: z.string() }) },
 * });
 * const app = new App();
 * app.websocket("/echo", { protocol: echo }, async (ws) => {
 *   await ws.accept();
 *   for await (const m of ws.messages()) await ws.emit("said", { text: m.data.text });
 * });
 * const testClient = new TestClient(app);
 * const client = await connect(echo, "ws://testserver/echo", { WebSocket: testClient.WebSocket });
 * await client.emit("say", { text: "hi" });
 * for await (const m of client.messages()) {
 *   assert.equal(m.type === "said" && m.data.text, "hi");
 *   break;
 * }
 * await client.close();
 * ```
 *
 * @module
 */
import { WebSocketDisconnect } from "./errors.ts";
import {
  type Protocol,
  ProtocolError,
  type ProtocolMessage,
  type SchemaInput,
  type SchemaOutput,
  type WireError,
} from "./protocol.ts";
import {
  describeIssues,
  encodeMessage,
  encodeRequest,
  ERROR_CODE,
  type Frame,
  framePosition,
  InvalidFrame,
  parseFrame,
  type ResumePosition,
  resumeUrl,
  runSchema,
  type WireId,
  wireIssues,
} from "./_protocol_wire.ts";
import type {
  StandardSchemaV1,
  StandardSchemaV1Result,
} from "./_standard_schema.ts";
import { isSchema } from "./_validate.ts";

export { ProtocolError } from "./protocol.ts";
export { WebSocketDisconnect } from "./errors.ts";

/**
 * What the client needs of a WebSocket: the WHATWG `WebSocket` (browsers,
 * Deno) and `TestClient.WebSocket` both have it.
 *
 * @example The global WebSocket fits
 * ```ts
 * import type { ClientSocket } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const fits: (socket: WebSocket) => ClientSocket = (socket) => socket;
 * assert.equal(typeof fits, "function");
 * ```
 */
export interface ClientSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Sends a text frame. */
  send(data: string): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Listens for the socket's events. */
  addEventListener(
    type: "message",
    listener: (event: MessageEvent) => void,
  ): void;
  /** Listens for the socket's events. */
  addEventListener(type: "close", listener: (event: CloseEvent) => void): void;
  /** Listens for the socket's events. */
  addEventListener(
    type: "open" | "error",
    listener: (event: Event) => void,
  ): void;
}

/**
 * A WebSocket constructor: `globalThis.WebSocket` or `TestClient.WebSocket`.
 *
 * @example The global constructor fits
 * ```ts
 * import type { WebSocketConstructor } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const ctor: WebSocketConstructor = WebSocket;
 * assert.equal(ctor, WebSocket);
 * ```
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => ClientSocket;

/**
 * Reconnection after the connection is lost: exponential backoff from
 * `minDelayMs` to `maxDelayMs`, each wait drawn at random between half and
 * all of it (jitter), so that clients of a restarted server do not all
 * come back at once.
 *
 * @example Options
 * ```ts
 * import type { ReconnectOptions } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const reconnect: ReconnectOptions = { retries: 5, minDelayMs: 100, maxDelayMs: 2000 };
 * assert.equal(reconnect.retries, 5);
 * ```
 */
export interface ReconnectOptions {
  /** Attempts after each loss (reset once a connection opens). @default {Infinity} */
  retries?: number;
  /** The first wait. @default {250} */
  minDelayMs?: number;
  /** The longest wait. @default {10000} */
  maxDelayMs?: number;
}

/**
 * Where the connection stands: `"connecting"` (the first time),
 * `"open"`, `"reconnecting"` (lost, waiting or dialling again), `"closed"`
 * (for good).
 *
 * @example A status
 * ```ts
 * import type { ClientStatus } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const status: ClientStatus = "reconnecting";
 * assert.equal(status, "reconnecting");
 * ```
 */
export type ClientStatus = "connecting" | "open" | "reconnecting" | "closed";

/**
 * Options of {@linkcode connect}.
 *
 * @example Options
 * ```ts
 * import type { ConnectOptions } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const options: ConnectOptions = { reconnect: { retries: 3 }, onStatus: (s) => seen.push(s) };
 * options.onStatus?.("open");
 * assert.deepEqual(seen, ["open"]);
 * ```
 */
export interface ConnectOptions {
  /** The WebSocket constructor. @default {globalThis.WebSocket} */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols to offer. @default {[]} */
  protocols?: string | string[];
  /**
   * Reconnect after a loss; without it, a loss closes the client. A
   * reconnection sends back the last broadcast position received per
   * channel (query parameter `wsapi-resume`, read by the server as
   * `ws.resume`), so a handler that joins with it resumes where the client
   * stopped.
   *
   * @default {undefined}
   */
  reconnect?: ReconnectOptions;
  /** Called on every status change (e.g. to show "reconnecting"). @default {undefined} */
  onStatus?: (status: ClientStatus) => void;
}

/**
 * Options of {@linkcode ProtocolClient.request}.
 *
 * @example Options
 * ```ts
 * import type { RequestOptions } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const options: RequestOptions = { timeoutMs: 1000, signal: AbortSignal.timeout(5000) };
 * assert.equal(options.timeoutMs, 1000);
 * ```
 */
export interface RequestOptions {
  /** Rejects with a `TimeoutError` after this long. @default {10000} */
  timeoutMs?: number;
  /** Rejects with its reason when aborted. @default {undefined} */
  signal?: AbortSignal;
}

/**
 * An `error` message that answers no request of this client: the server
 * found a message of ours invalid, or we could not read one of its.
 *
 * @example An error message
 * ```ts
 * import type { ErrorMessage } from "@wsapi/wsapi/client";
 * import assert from "node:assert/strict";
 *
 * const m: ErrorMessage = { type: "error", error: { code: "unknown_type", message: "…" } };
 * assert.equal(m.error.code, "unknown_type");
 * ```
 */
export interface ErrorMessage {
  /** Always `"error"`. */
  readonly type: "error";
  /** The id, when the server echoed one. */
  readonly id?: string | number;
  /** What went wrong. */
  readonly error: WireError;
}

/**
 * What `messages()` yields under protocol `P`: the `sends` messages, typed
 * and validated, and {@linkcode ErrorMessage}s.
 *
 * @example Narrowing
 * ```ts
 * import { defineProtocol } from "@wsapi/wsapi";
 * import type { ClientMessage } from "@wsapi/wsapi/client";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const p = defineProtocol({ sends: { said: z.object({ text: z.string() }) } });
 * const text = (m: ClientMessage<typeof p>) => m.type === "said" ? m.data.text : m.error.message;
 * assert.equal(text({ type: "said", data: { text: "hi" } }), "hi");
 * ```
 */
export type ClientMessage<P extends Protocol> =
  | {
    [K in keyof P["sends"] & string]: ProtocolMessage<
      K,
      SchemaOutput<P["sends"][K]>
    >;
  }[keyof P["sends"] & string]
  | ErrorMessage;

/**
 * The arguments of `client.emit()` under protocol `P`: a type of
 * `receives` and its data.
 *
 * @example Arguments
 * ```ts
 * import { defineProtocol } from "@wsapi/wsapi";
 * import type { ClientEmitArgs } from "@wsapi/wsapi/client";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const p = defineProtocol({ receives: { say: z.object({ text: z.string() }) } });
 * const args: ClientEmitArgs<typeof p> = ["say", { text: "hi" }];
 * assert.equal(args[0], "say");
 * ```
 */
export type ClientEmitArgs<P extends Protocol> = {
  [T in keyof P["receives"] & string]: [
    type: T,
    data: SchemaInput<P["receives"][T]>,
  ];
}[keyof P["receives"] & string];

/**
 * A connection to a protocol route, made by {@linkcode connect}.
 *
 * - `emit()` and `request()` validate what they send (a `TypeError` at the
 *   call, nothing sent) and reject with `WebSocketDisconnect` while not
 *   connected.
 * - A request gets exactly one outcome: the answer (validated against the
 *   output schema), a `ProtocolError` for the server's `error`, a
 *   `DOMException` named `TimeoutError`, the signal's reason, or
 *   `WebSocketDisconnect` if the connection is lost first (also with
 *   `reconnect`: the server may or may not have seen it).
 * - `messages()` goes on across reconnections and ends once the client is
 *   closed for good; one loop at a time.
 * - Broadcast envelopes (`channel`, `epoch`, `offset` beside `type` and
 *   `data`) are remembered per channel and sent back on every reconnection
 *   (`wsapi-resume`): see `ws.resume` on the server.
 *
 * @example A request
 * ```ts
 * import { App, defineProtocol } from "@wsapi/wsapi";
 * import { connect, ProtocolError } from "@wsapi/wsapi/client";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const api = defineProtocol({
 *   requests: { history: { input: z.object({ limit: z.number().int().max(100) }), output: z.array(z.string()) } },
 * });
 * const app = new App();
 * app.websocket("/api", { protocol: api }, async (ws) => {
 *   await ws.accept();
 *   for await (const m of ws.messages()) await m.reply(["a", "b"].slice(0, m.data.limit));
 * });
 * const client = await connect(api, "ws://testserver/api", { WebSocket: new TestClient(app).WebSocket });
 * assert.deepEqual(await client.request("history", { limit: 1 }), ["a"]);
 * const error = await client.request("history", { limit: 1000 }).catch((e) => e);
 * assert.ok(error instanceof TypeError); // checked before sending
 * await client.close();
 * assert.ok(new ProtocolError("x", "y") instanceof Error);
 * ```
 */
export interface ProtocolClient<P extends Protocol> {
  /** Where the connection stands. */
  readonly status: ClientStatus;
  /** Resolves with the last close code and reason once closed for good. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /**
   * Sends a `receives` message.
   *
   * @param args The type and its data.
   * @throws {TypeError} If the type is not declared or the data invalid.
   * @throws {WebSocketDisconnect} If not connected.
   */
  emit(...args: ClientEmitArgs<P>): Promise<void>;
  /**
   * Yields the server's messages until the client is closed for good.
   *
   * @returns The messages.
   * @throws {Error} If another `messages()` loop is running.
   */
  messages(): AsyncIterableIterator<ClientMessage<P>>;
  /**
   * Makes a request and waits for its one answer.
   *
   * @param type A type of `requests`.
   * @param data Its input.
   * @param options Timeout and abort signal.
   * @returns The validated answer.
   * @throws {ProtocolError} For the server's `error` answer.
   * @throws {DOMException} Named `TimeoutError` after `timeoutMs`.
   * @throws {WebSocketDisconnect} If the connection is lost first.
   * @throws {TypeError} If the type is not declared or the data invalid.
   */
  request<T extends keyof P["requests"] & string>(
    type: T,
    data: SchemaInput<P["requests"][T]["input"]>,
    options?: RequestOptions,
  ): Promise<SchemaOutput<P["requests"][T]["output"]>>;
  /**
   * Closes for good (no reconnection); pending requests reject with
   * `WebSocketDisconnect`.
   *
   * @param code The close code. @default {1000}
   * @param reason The close reason. @default {""}
   */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * Connects to a protocol route.
 *
 * @param protocol The route's protocol (the object the server uses).
 * @param url A `ws:`/`wss:` URL.
 * @param options The WebSocket constructor, subprotocols, reconnection.
 * @returns The client, once the connection is open.
 * @throws {WebSocketDisconnect} If it cannot connect (after the retries,
 * with `reconnect`).
 * @throws {RangeError} If the reconnect options are out of range.
 *
 * @example Connecting over a real socket
 * ```ts ignore
 * import { connect } from "@wsapi/wsapi/client";
 * import { chat } from "./protocol.ts";
 *
 * const room = await connect(chat, "wss://example.com/rooms/a", { reconnect: {} });
 * await room.emit("say", { text: "hi" });
 * for await (const m of room.messages()) console.log(m);
 * ```
 */
export function connect<P extends Protocol>(
  protocol: P,
  url: string | URL,
  options: ConnectOptions = {},
): Promise<ProtocolClient<P>> {
  try {
    const client = new Client<P>(protocol, String(url), options);
    return client.opened.then(() => client);
  } catch (error) {
    return Promise.reject(error);
  }
}

interface Pending {
  type: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  cleanup(): void;
}

// Closes that mean "do not try again": we sent something the server
// refused, or the application closed on purpose (1000, 3000-4999).
function retryable(code: number): boolean {
  return code === 1001 || code === 1005 || code === 1006 ||
    (code >= 1011 && code <= 1014);
}

function nonNegative(
  name: string,
  value: number | undefined,
  fallback: number,
) {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `Cannot connect: reconnect.${name} must be a number >= 0, got ${value}`,
    );
  }
  return value;
}

class Client<P extends Protocol> implements ProtocolClient<P> {
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #protocol: Protocol;
  #url: string;
  #WebSocket: WebSocketConstructor;
  #protocols: string | string[] | undefined;
  #reconnect:
    | { retries: number; minDelayMs: number; maxDelayMs: number }
    | null;
  #onStatus: ((status: ClientStatus) => void) | undefined;
  #status: ClientStatus = "connecting";
  #socket: ClientSocket | null = null;
  #everOpened = false;
  #closing = false;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pending = new Map<WireId, Pending>();
  #nextId = 1;
  #inbox: ClientMessage<P>[] = [];
  #waiter:
    | ((result: IteratorResult<ClientMessage<P>, undefined>) => void)
    | null = null;
  #iterating = false;
  // Frames whose validation is asynchronous are delivered in order behind it.
  #tail: Promise<void> | null = null;
  #settleOpened: { resolve(): void; reject(error: unknown): void };
  // The last broadcast position received per channel, sent back on every
  // dial (see resumeUrl): a reconnection resumes where this one stopped.
  #positions = new Map<string, ResumePosition>();
  #settleClosed: (value: { code: number; reason: string }) => void;

  constructor(protocol: P, url: string, options: ConnectOptions) {
    this.#protocol = protocol;
    this.#url = url;
    const ctor = options.WebSocket ?? globalThis.WebSocket;
    if (typeof ctor !== "function") {
      throw new TypeError(
        "Cannot connect: no WebSocket constructor: pass { WebSocket } in the options",
      );
    }
    this.#WebSocket = ctor;
    this.#protocols = options.protocols;
    const r = options.reconnect;
    if (r === undefined) this.#reconnect = null;
    else {
      const minDelayMs = nonNegative("minDelayMs", r.minDelayMs, 250);
      const maxDelayMs = nonNegative("maxDelayMs", r.maxDelayMs, 10000);
      if (maxDelayMs < minDelayMs) {
        throw new RangeError(
          `Cannot connect: reconnect.maxDelayMs (${maxDelayMs}) is below minDelayMs (${minDelayMs})`,
        );
      }
      this.#reconnect = {
        retries: nonNegative("retries", r.retries, Infinity),
        minDelayMs,
        maxDelayMs,
      };
    }
    this.#onStatus = options.onStatus;
    const opened = Promise.withResolvers<void>();
    this.opened = opened.promise;
    this.#settleOpened = opened;
    const closed = Promise.withResolvers<{ code: number; reason: string }>();
    this.closed = closed.promise;
    this.#settleClosed = closed.resolve;
    this.#dial();
  }

  get status(): ClientStatus {
    return this.#status;
  }

  #setStatus(status: ClientStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#onStatus?.(status);
  }

  #dial(): void {
    this.#timer = undefined;
    let socket: ClientSocket;
    try {
      socket = new this.#WebSocket(
        resumeUrl(this.#url, this.#positions),
        this.#protocols,
      );
    } catch (error) {
      // A malformed URL: no retry will help.
      this.#finish(1006, "");
      this.#settleOpened.reject(error);
      return;
    }
    this.#socket = socket;
    socket.addEventListener("open", () => {
      if (this.#socket !== socket) return;
      if (this.#closing) {
        socket.close(1000);
        return;
      }
      this.#attempt = 0;
      this.#everOpened = true;
      this.#setStatus("open");
      this.#settleOpened.resolve();
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) this.#receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      // Deno's WebSocket reports a connection that dropped without a close
      // frame as code 0; browsers and RFC 6455 (section 7.1.5) say 1006.
      const code = event.code === 0 ? 1006 : event.code;
      if (this.#socket === socket) this.#lost(code, event.reason);
    });
    // An error event is always followed by a close event, handled there.
    socket.addEventListener("error", () => {});
  }

  #lost(code: number, reason: string): void {
    this.#socket = null;
    const gone = new WebSocketDisconnect(code, reason);
    for (const pending of this.#pending.values()) {
      pending.cleanup();
      pending.reject(gone);
    }
    this.#pending.clear();
    const policy = this.#reconnect;
    if (
      !this.#closing && policy !== null && retryable(code) &&
      this.#attempt < policy.retries
    ) {
      const base = Math.min(
        policy.maxDelayMs,
        policy.minDelayMs * 2 ** this.#attempt,
      );
      this.#attempt++;
      this.#setStatus(this.#everOpened ? "reconnecting" : "connecting");
      this.#timer = setTimeout(
        () => this.#dial(),
        base / 2 + Math.random() * base / 2,
      );
      return;
    }
    this.#finish(code, reason);
    this.#settleOpened.reject(gone);
  }

  #finish(code: number, reason: string): void {
    this.#setStatus("closed");
    this.#settleClosed({ code, reason });
    // A loop ends here; messages still queued stay for a later messages().
    this.#iterating = false;
    // A waiting loop ends here; a busy one once it has read what is queued.
    const waiter = this.#waiter;
    this.#waiter = null;
    if (waiter !== null) {
      this.#iterating = false;
      waiter({ done: true, value: undefined });
    }
  }

  #deliver(message: ClientMessage<P>): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter({ done: false, value: message });
    } else this.#inbox.push(message);
  }

  #receive(data: unknown): void {
    if (this.#tail !== null) {
      const tail = this.#tail.then(() => this.#handle(data));
      this.#tail = tail;
      void tail.then(() => {
        if (this.#tail === tail) this.#tail = null;
      });
      return;
    }
    const handled = this.#handle(data);
    if (handled instanceof Promise) {
      this.#tail = handled;
      void handled.then(() => {
        if (this.#tail === handled) this.#tail = null;
      });
    }
  }

  #handle(data: unknown): void | Promise<void> {
    if (typeof data !== "string") {
      this.#deliver(errorMessage(
        undefined,
        ERROR_CODE.InvalidMessage,
        "Cannot read message: expected a JSON text frame, got a binary frame",
      ));
      return;
    }
    const frame = parseFrame(data);
    if (frame instanceof InvalidFrame) {
      this.#deliver({ type: "error", error: frame.body() });
      return;
    }
    const id = frame.id as WireId | undefined;
    if (frame.type === "error") return this.#error(frame, id);
    // A broadcast envelope: received, so never asked for again (even if
    // its data turns out invalid below).
    const at = framePosition(frame);
    if (at !== undefined) this.#positions.set(at.channel, at.position);
    if (id !== undefined) {
      const pending = this.#pending.get(id);
      if (pending !== undefined && pending.type === frame.type) {
        return this.#validate(
          this.#protocol.requests[frame.type].output,
          frame,
          (value) => this.#settle(id, pending, value, null),
          (error) => this.#settle(id, pending, undefined, error),
        );
      }
    }
    const { sends } = this.#protocol;
    if (!Object.hasOwn(sends, frame.type)) {
      this.#deliver(errorMessage(
        id,
        ERROR_CODE.UnknownType,
        `Cannot read message: unknown type ${
          JSON.stringify(frame.type)
        }: the protocol's sends do not declare it`,
      ));
      return;
    }
    return this.#validate(
      sends[frame.type],
      frame,
      (value) =>
        this.#deliver({ type: frame.type, data: value } as ClientMessage<P>),
      (error) =>
        this.#deliver({
          type: "error",
          error: {
            code: error.code,
            message: error.message,
            issues: [...error.issues],
          },
        }),
    );
  }

  #validate(
    schema: StandardSchemaV1,
    frame: Frame,
    ok: (value: unknown) => void,
    bad: (error: ProtocolError) => void,
  ): void | Promise<void> {
    const check = (result: StandardSchemaV1Result<unknown>) => {
      if (result.issues === undefined) return ok(result.value);
      const issues = wireIssues(result.issues, ["data"]);
      bad(
        new ProtocolError(
          ERROR_CODE.InvalidData,
          `Cannot read message "${frame.type}" from the server: ${
            describeIssues(issues)
          }`,
          issues,
        ),
      );
    };
    const result = runSchema(schema, frame.data);
    if (result instanceof Promise) return result.then(check);
    check(result);
  }

  #error(frame: Frame, id: WireId | undefined): void {
    const body = frame.error as Partial<WireError> | null;
    const error: WireError = {
      code: typeof body?.code === "string" ? body.code : "unknown",
      message: typeof body?.message === "string" ? body.message : "",
      ...(Array.isArray(body?.issues) ? { issues: body.issues } : {}),
    };
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (pending !== undefined) {
      this.#settle(
        id!,
        pending,
        undefined,
        new ProtocolError(error.code, error.message, error.issues ?? []),
      );
      return;
    }
    this.#deliver(
      id === undefined
        ? { type: "error", error }
        : { type: "error", id, error },
    );
  }

  #settle(id: WireId, pending: Pending, value: unknown, error: unknown): void {
    if (this.#pending.get(id) !== pending) return;
    this.#pending.delete(id);
    pending.cleanup();
    if (error === null) pending.resolve(value);
    else pending.reject(error);
  }

  // Sending while not connected (reconnecting, or closed) is refused
  // rather than queued: the caller learns that nothing was sent.
  #notConnected(): WebSocketDisconnect | null {
    const socket = this.#socket;
    if (socket !== null && socket.readyState === 1) return null;
    return new WebSocketDisconnect(1006, "");
  }

  #check(
    table: "receives" | "input",
    type: string,
    data: unknown,
  ): unknown | Promise<unknown> {
    const schema = table === "receives"
      ? (Object.hasOwn(this.#protocol.receives, type)
        ? this.#protocol.receives[type]
        : undefined)
      : (Object.hasOwn(this.#protocol.requests, type)
        ? this.#protocol.requests[type].input
        : undefined);
    const action = table === "receives" ? "emit" : "request";
    if (!isSchema(schema)) {
      throw new TypeError(
        `Cannot ${action} ${JSON.stringify(type)}: the protocol's ${
          table === "receives" ? "receives" : "requests"
        } do not declare it`,
      );
    }
    const fail = (result: StandardSchemaV1Result<unknown>) => {
      if (result.issues === undefined) return result.value;
      throw new TypeError(
        `Cannot ${action} ${
          JSON.stringify(type)
        }: the data does not match the protocol: ${
          describeIssues(wireIssues(result.issues, ["data"]))
        }`,
      );
    };
    const result = runSchema(schema, data);
    return result instanceof Promise ? result.then(fail) : fail(result);
  }

  async emit(...[type, data]: ClientEmitArgs<P>): Promise<void> {
    let value = this.#check("receives", type, data);
    if (value instanceof Promise) value = await value;
    const gone = this.#notConnected();
    if (gone !== null) throw gone;
    this.#socket!.send(encodeMessage(type, value));
  }

  async request<T extends keyof P["requests"] & string>(
    type: T,
    data: SchemaInput<P["requests"][T]["input"]>,
    options: RequestOptions = {},
  ): Promise<SchemaOutput<P["requests"][T]["output"]>> {
    const { timeoutMs = 10000, signal } = options;
    if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) {
      throw new RangeError(
        `Cannot request ${
          JSON.stringify(type)
        }: timeoutMs must be a number > 0, got ${timeoutMs}`,
      );
    }
    signal?.throwIfAborted();
    let value = this.#check("input", type, data);
    if (value instanceof Promise) value = await value;
    signal?.throwIfAborted();
    const gone = this.#notConnected();
    if (gone !== null) throw gone;
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const timer = setTimeout(() => {
      const pending = this.#pending.get(id);
      if (pending === undefined) return;
      this.#settle(
        id,
        pending,
        undefined,
        new DOMException(
          `Request ${
            JSON.stringify(type)
          } (id ${id}) got no answer within ${timeoutMs} ms`,
          "TimeoutError",
        ),
      );
    }, timeoutMs);
    const onAbort = () => {
      const pending = this.#pending.get(id);
      if (pending !== undefined) {
        this.#settle(id, pending, undefined, signal!.reason);
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#pending.set(id, {
      type,
      resolve,
      reject,
      cleanup() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      },
    });
    this.#socket!.send(encodeRequest(type, id, value));
    return await promise as SchemaOutput<P["requests"][T]["output"]>;
  }

  messages(): AsyncIterableIterator<ClientMessage<P>> {
    if (this.#iterating) {
      throw new Error(
        "Cannot iterate messages: another messages() loop is running: end it first (break), or share its messages",
      );
    }
    this.#iterating = true;
    let active = true;
    const done = (): Promise<IteratorResult<ClientMessage<P>, undefined>> => {
      active = false;
      this.#iterating = false;
      return Promise.resolve({ done: true, value: undefined });
    };
    const iterator: AsyncIterableIterator<ClientMessage<P>> = {
      next: () => {
        if (!active) return Promise.resolve({ done: true, value: undefined });
        const queued = this.#inbox.shift();
        if (queued !== undefined) {
          return Promise.resolve({ done: false, value: queued });
        }
        if (this.#status === "closed") return done();
        return new Promise((resolve) => {
          this.#waiter = (result) => {
            if (result.done) active = false;
            resolve(result);
          };
        });
      },
      return: () => {
        if (!active) return Promise.resolve({ done: true, value: undefined });
        const waiter = this.#waiter;
        this.#waiter = null;
        waiter?.({ done: true, value: undefined });
        return done();
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  close(code = 1000, reason = ""): Promise<void> {
    this.#closing = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#lost(code, reason);
      return Promise.resolve();
    }
    const socket = this.#socket;
    if (socket !== null && socket.readyState < 2) socket.close(code, reason);
    return this.closed.then(() => {});
  }
}

function errorMessage(
  id: WireId | undefined,
  code: string,
  message: string,
): ErrorMessage {
  return id === undefined
    ? { type: "error", error: { code, message } }
    : { type: "error", id, error: { code, message } };
}
