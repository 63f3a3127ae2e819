// The server side of a protocol route: reads frames, validates them against
// the route's protocol, answers invalid ones, and keeps each request's
// promise of exactly one answer. WebSocket's messages()/receiveMessage()/
// emit() delegate here; it sees the socket only through `ProtocolSocket`,
// so it imports nothing of websocket.ts.
import { WebSocketDisconnect } from "./errors.ts";
import type {
  InvalidMessagePolicy,
  Protocol,
  ProtocolMessage,
  ProtocolRequest,
} from "./protocol.ts";
import {
  describeIssues,
  encodeError,
  encodeMessage,
  ERROR_CODE,
  type Frame,
  InvalidFrame,
  parseFrame,
  runSchema,
  type WireId,
  wireIssues,
} from "./_protocol_wire.ts";
import type { StandardSchemaV1Result } from "./_standard_schema.ts";
import { isSchema } from "./_validate.ts";
import { cutUtf8 } from "./_utf8.ts";
import { MAX_CLOSE_REASON_BYTES } from "./_close.ts";

/** What the session needs of the socket (a WebSocket has it all). */
export interface ProtocolSocket {
  receive(): Promise<
    | { type: "websocket.connect" }
    | { type: "websocket.receive"; text: string }
    | { type: "websocket.receive"; bytes: Uint8Array }
    | { type: "websocket.disconnect"; code: number; reason: string }
  >;
  sendText(data: string): Promise<void>;
  close(code?: number, reason?: string): Promise<void>;
}

const PENDING = 0;
const ANSWERING = 1;
const ANSWERED = 2;

class IncomingRequest implements ProtocolRequest {
  readonly type: string;
  readonly id: WireId;
  readonly data: unknown;
  #session: ProtocolSession;
  #state = PENDING;

  constructor(
    session: ProtocolSession,
    type: string,
    id: WireId,
    data: unknown,
  ) {
    this.#session = session;
    this.type = type;
    this.id = id;
    this.data = data;
  }

  async reply(data: unknown): Promise<void> {
    this.#claim("reply to");
    let result: StandardSchemaV1Result<unknown>;
    try {
      result = await runSchema(
        this.#session.protocol.requests[this.type].output,
        data,
      );
    } catch (error) {
      this.#state = PENDING;
      throw error;
    }
    if (result.issues !== undefined) {
      this.#state = PENDING;
      throw new TypeError(
        `Cannot reply to request "${this.type}" (id ${
          JSON.stringify(this.id)
        }): the data does not match its output schema: ${
          describeIssues(wireIssues(result.issues, ["data"]))
        }`,
      );
    }
    await this.#send(
      `{"type":${JSON.stringify(this.type)},"id":${
        JSON.stringify(this.id)
      },"data":${JSON.stringify(result.value) ?? "null"}}`,
    );
  }

  fail(code: string, message: string): Promise<void> {
    try {
      if (typeof code !== "string" || code === "") {
        throw new TypeError(
          `Cannot fail request "${this.type}": the code must be a non-empty string, got ${
            JSON.stringify(code)
          }`,
        );
      }
      if (typeof message !== "string") {
        throw new TypeError(
          `Cannot fail request "${this.type}": the message must be a string, got ${typeof message}`,
        );
      }
      this.#claim("fail");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#send(encodeError(this.id, { code, message }));
  }

  #claim(action: string): void {
    if (this.#state !== PENDING) {
      throw new Error(
        `Cannot ${action} request "${this.type}" (id ${
          JSON.stringify(this.id)
        }): it was already answered: answer each request once`,
      );
    }
    this.#state = ANSWERING;
  }

  async #send(frame: string): Promise<void> {
    this.#state = ANSWERED;
    this.#session.pending.delete(this.id);
    await this.#session.socket.sendText(frame);
  }

  // Called as the connection closes: the one answer it can still get.
  unanswered(): string | undefined {
    if (this.#state !== PENDING) return undefined;
    this.#state = ANSWERED;
    return encodeError(this.id, {
      code: ERROR_CODE.Unanswered,
      message:
        `The server did not answer request "${this.type}" before the connection closed`,
    });
  }
}

/** One protocol route's connection. */
export class ProtocolSession {
  readonly socket: ProtocolSocket;
  readonly protocol: Protocol;
  readonly onInvalid: InvalidMessagePolicy;
  /** Requests not answered yet, by id. */
  readonly pending = new Map<WireId, IncomingRequest>();
  #ended: WebSocketDisconnect | null = null;

  constructor(
    socket: ProtocolSocket,
    protocol: Protocol,
    onInvalid: InvalidMessagePolicy,
  ) {
    this.socket = socket;
    this.protocol = protocol;
    this.onInvalid = onInvalid;
  }

  /**
   * The next valid message; invalid ones are answered (or close the
   * connection) on the way. Null once the client has gone.
   */
  async next(): Promise<ProtocolMessage | IncomingRequest | null> {
    while (this.#ended === null) {
      const event = await this.socket.receive();
      if (event.type === "websocket.disconnect") {
        this.#ended = new WebSocketDisconnect(event.code, event.reason);
        this.pending.clear();
        return null;
      }
      if (event.type !== "websocket.receive") continue;
      const read = "text" in event ? this.#read(event.text) : new InvalidFrame(
        ERROR_CODE.InvalidMessage,
        "Cannot read message: expected a JSON text frame, got a binary frame",
      );
      const message = read instanceof Promise ? await read : read;
      if (!(message instanceof InvalidFrame)) return message;
      await this.#invalid(message, "text" in event ? 1008 : 1003);
    }
    return null;
  }

  /** The disconnect, once the client has gone. */
  get ended(): WebSocketDisconnect | null {
    return this.#ended;
  }

  #read(
    text: string,
  ):
    | ProtocolMessage
    | IncomingRequest
    | InvalidFrame
    | Promise<ProtocolMessage | IncomingRequest | InvalidFrame> {
    const frame = parseFrame(text);
    if (frame instanceof InvalidFrame) return frame;
    const { type } = frame;
    const { receives, requests } = this.protocol;
    const id = frame.id as WireId | undefined;
    if (Object.hasOwn(receives, type)) {
      return this.#validated(frame, receives[type], id, false);
    }
    if (Object.hasOwn(requests, type)) {
      if (id === undefined) {
        return new InvalidFrame(
          ERROR_CODE.InvalidId,
          `Cannot read request "${type}": it has no "id": add a string or number id, which the answer carries back`,
          undefined,
          [{ path: ["id"], message: "Required" }],
        );
      }
      if (this.pending.has(id)) {
        return new InvalidFrame(
          ERROR_CODE.InvalidId,
          `Cannot read request "${type}": id ${
            JSON.stringify(id)
          } belongs to a request still pending: use a new id per request`,
          id,
          [{ path: ["id"], message: "Already pending" }],
        );
      }
      return this.#validated(frame, requests[type].input, id, true);
    }
    return new InvalidFrame(
      ERROR_CODE.UnknownType,
      `Cannot read message: unknown type ${JSON.stringify(type)}: expected ${
        expected(this.protocol)
      }`,
      id,
      [{ path: ["type"], message: `Unknown type ${JSON.stringify(type)}` }],
    );
  }

  #validated(
    frame: Frame,
    schema: Parameters<typeof runSchema>[0],
    id: WireId | undefined,
    isRequest: boolean,
  ):
    | ProtocolMessage
    | IncomingRequest
    | InvalidFrame
    | Promise<ProtocolMessage | IncomingRequest | InvalidFrame> {
    const result = runSchema(schema, frame.data);
    // Most validators answer synchronously: no promise, no extra turn.
    if (result instanceof Promise) {
      return result.then((settled) =>
        this.#outcome(frame, settled, id, isRequest)
      );
    }
    return this.#outcome(frame, result, id, isRequest);
  }

  #outcome(
    frame: Frame,
    result: StandardSchemaV1Result<unknown>,
    id: WireId | undefined,
    isRequest: boolean,
  ): ProtocolMessage | IncomingRequest | InvalidFrame {
    if (result.issues !== undefined) {
      const issues = wireIssues(result.issues, ["data"]);
      return new InvalidFrame(
        ERROR_CODE.InvalidData,
        `Cannot read ${isRequest ? "request" : "message"} "${frame.type}": ${
          describeIssues(issues)
        }`,
        id,
        issues,
      );
    }
    if (!isRequest) return { type: frame.type, data: result.value };
    const request = new IncomingRequest(this, frame.type, id!, result.value);
    this.pending.set(id!, request);
    return request;
  }

  async #invalid(invalid: InvalidFrame, closeCode: number): Promise<void> {
    try {
      if (this.onInvalid === "close") {
        const code = invalid.code === ERROR_CODE.InvalidJson ? 1007 : closeCode;
        await this.socket.close(
          code,
          cutUtf8(invalid.message, MAX_CLOSE_REASON_BYTES),
        );
      } else {
        await this.socket.sendText(encodeError(invalid.id, invalid.body()));
      }
    } catch (error) {
      // The client left meanwhile: the next receive() reports it.
      if (!(error instanceof WebSocketDisconnect)) throw error;
    }
  }

  /** Sends `data` as a `type` message after validating it against `sends`. */
  emit(type: string, data: unknown): Promise<void> {
    const { sends } = this.protocol;
    if (typeof type !== "string" || !Object.hasOwn(sends, type)) {
      return Promise.reject(
        new TypeError(
          `Cannot emit message: unknown type ${
            JSON.stringify(type)
          }: declare it in the protocol's sends (declared: ${
            Object.keys(sends).map((name) => `"${name}"`).join(", ") || "none"
          })`,
        ),
      );
    }
    let result;
    try {
      result = runSchema(sends[type], data);
    } catch (error) {
      return Promise.reject(error);
    }
    if (result instanceof Promise) {
      return result.then((settled) => this.#emitValid(type, settled));
    }
    return this.#emitValid(type, result);
  }

  #emitValid(
    type: string,
    result: StandardSchemaV1Result<unknown>,
  ): Promise<void> {
    if (result.issues !== undefined) {
      return Promise.reject(
        new TypeError(
          `Cannot emit "${type}": the data does not match the protocol: ${
            describeIssues(wireIssues(result.issues, ["data"]))
          }`,
        ),
      );
    }
    return this.socket.sendText(encodeMessage(type, result.value));
  }

  /**
   * The connection is closing: every request still pending gets its one
   * answer, an `unanswered` error, sent before the close frame.
   */
  closing(): void {
    if (this.pending.size === 0) return;
    for (const request of this.pending.values()) {
      const frame = request.unanswered();
      // Sent now, ahead of the close frame; if the buffer is full or the
      // client has gone, the client's request fails on the close anyway.
      if (frame !== undefined) this.socket.sendText(frame).catch(ignore);
    }
    this.pending.clear();
  }
}

function ignore(): void {}

function expected(protocol: Protocol): string {
  const names = [
    ...Object.keys(protocol.receives),
    ...Object.keys(protocol.requests),
  ];
  return names.length === 0
    ? "none (the protocol declares no client messages)"
    : names.map((name) => JSON.stringify(name)).join(", ");
}

/**
 * Checks the protocol route options; a registration-time `TypeError` names
 * the fix.
 */
export function checkProtocolOptions(
  path: string,
  options: { protocol?: unknown; onInvalid?: unknown },
): void {
  const { protocol, onInvalid } = options;
  if (protocol !== undefined && !isProtocol(protocol)) {
    throw new TypeError(
      `Cannot register route "${path}": option protocol is not a protocol: build it with defineProtocol()`,
    );
  }
  if (onInvalid === undefined) return;
  if (onInvalid !== "error" && onInvalid !== "close") {
    throw new TypeError(
      `Cannot register route "${path}": option onInvalid must be "error" or "close", got ${
        JSON.stringify(onInvalid)
      }`,
    );
  }
  if (protocol === undefined) {
    throw new TypeError(
      `Cannot register route "${path}": option onInvalid needs a protocol: pass { protocol: defineProtocol(...) } too`,
    );
  }
}

function isProtocol(value: unknown): value is Protocol {
  if (typeof value !== "object" || value === null) return false;
  const { receives, sends, requests } = value as Record<string, unknown>;
  const tables = [receives, sends, requests];
  if (!tables.every((t) => typeof t === "object" && t !== null)) return false;
  return [receives, sends].every((table) =>
    Object.values(table as object).every(isSchema)
  ) &&
    Object.values(requests as object).every((r) =>
      isSchema(r?.input) && isSchema(r?.output)
    );
}
