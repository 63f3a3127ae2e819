/**
 * The messages of a connection's two sides, as Starlette's ASGI messages:
 * what `receive()` returns and what `send()` takes, the close codes an
 * application may send and the states of a {@linkcode WebSocket}.
 *
 * @module
 */

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
