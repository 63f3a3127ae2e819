/**
 * The hooks an `App` offers to instrumentation (`instrument()` in
 * `@wsapi/wsapi/otel`, or your own metrics). With no observer registered
 * the app does no extra work per connection or per message.
 *
 * @module
 */
import type { HTTPConnection } from "./connection.ts";
import type { WebSocket } from "./websocket.ts";

/**
 * How a WebSocket handshake ended.
 * - `"accepted"`: the handler accepted (101);
 * - `"refused"`: the handler closed (or threw `WebSocketException`) before
 *   accepting, or the route was not found (403);
 * - `"denied"`: a response other than 101 went out: middleware, a limit,
 *   an origin check, `sendDenialResponse`, an `HTTPException`;
 * - `"error"`: the handler failed before accepting (500).
 */
export type HandshakeOutcome = "accepted" | "refused" | "denied" | "error";

/**
 * What an observer learns of a handshake once it is answered.
 *
 * @example Reading one
 * ```ts
 * import type { HandshakeInfo } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const info: HandshakeInfo = { route: "/ws/{room}", path: "/ws/lobby", status: 101, outcome: "accepted", durationMs: 2 };
 * assert.equal(info.outcome, "accepted");
 * ```
 */
export interface HandshakeInfo {
  /** The route's path template, or `null` when no route matched. */
  route: string | null;
  /** The request path. */
  path: string;
  /** The HTTP status sent (101 when accepted). */
  status: number;
  /** How it ended. */
  outcome: HandshakeOutcome;
  /** For a refusal, its close code and reason. */
  close?: { code: number; reason: string };
  /** Milliseconds from the request to the answer. */
  durationMs: number;
}

/**
 * What an observer learns when an accepted connection has closed.
 *
 * @example Reading one
 * ```ts
 * import type { SessionInfo } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const info: SessionInfo = {
 *   route: "/ws", code: 1000, reason: "", durationMs: 1500,
 *   messagesReceived: 2, bytesReceived: 10, messagesSent: 2, bytesSent: 10, sendBufferHighWater: 0,
 * };
 * assert.equal(info.code, 1000);
 * ```
 */
export interface SessionInfo {
  /** The route's path template. */
  route: string;
  /** The close code (1006 when the peer vanished). */
  code: number;
  /** The close reason. */
  reason: string;
  /** Milliseconds from accept to close. */
  durationMs: number;
  /** Messages received from the client. */
  messagesReceived: number;
  /** Bytes received (UTF-8 bytes for text). */
  bytesReceived: number;
  /** Messages sent to the client. */
  messagesSent: number;
  /** Bytes sent. */
  bytesSent: number;
  /** The largest send buffer (`bufferedAmount`, bytes) seen before a send. */
  sendBufferHighWater: number;
}

/**
 * Callbacks for one accepted connection, returned by
 * {@linkcode ConnectionObserver.accepted}. Called synchronously on the hot
 * path: keep them cheap and never throw.
 *
 * @example Counting messages
 * ```ts
 * import type { SessionObserver } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * let count = 0;
 * const session: SessionObserver = { received: () => count++ };
 * session.received?.(5);
 * assert.equal(count, 1);
 * ```
 */
export interface SessionObserver {
  /** A message of `bytes` bytes came in (and passed the limits). */
  received?(bytes: number): void;
  /** A message of `bytes` bytes went out. */
  sent?(bytes: number): void;
  /**
   * A `Broadcast` handed this connection a live message of `channel`,
   * `lagMs` milliseconds after `publish()` was called (for a socket over its
   * send high-water mark, once the message went out). Replays of history
   * (`join(channel, ws, { since })`) are not reported: their age is how long
   * the client was away. Reported for publications that carry their time:
   * a `Broadcast` stamps its own while it has an observed member (or always,
   * with a backend's `publishTime: true`), and the backend carries the stamp
   * to other processes (`BroadcastChannelBackend`; the Redis backends only
   * with `publishTime: true`). Across machines it is as exact as their
   * clocks agree, and may then be negative.
   */
  broadcastDelivered?(channel: string, lagMs: number): void;
  /** The connection has closed. */
  closed?(info: SessionInfo): void;
}

/**
 * Registered with `app.observe()`: told of every WebSocket handshake's
 * outcome and every session's messages and end. Exceptions thrown by an
 * observer are logged and otherwise ignored.
 *
 * @example Counting handshakes by outcome
 * ```ts
 * import { App, type ConnectionObserver } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const outcomes: string[] = [];
 * const observer: ConnectionObserver = { handshake: (_conn, info) => outcomes.push(info.outcome) };
 * const app = new App();
 * app.observe(observer);
 * app.websocket("/ws", (ws) => ws.close(4000));
 * await new TestClient(app).websocketConnect("/ws").catch(() => {});
 * assert.deepEqual(outcomes, ["refused"]);
 * ```
 */
export interface ConnectionObserver {
  /**
   * A handshake was answered. `conn` is the `WebSocket` when one was
   * built for the route, else an `HTTPConnection` of the request (no
   * route matched, or middleware or a limit answered first).
   */
  handshake?(conn: HTTPConnection, info: HandshakeInfo): void;
  /**
   * A connection was accepted (called before `handshake()` reports the
   * 101); what it returns follows that session. `startTime` is when the
   * upgrade request came in, in milliseconds since the epoch.
   */
  accepted?(
    ws: WebSocket,
    route: string,
    startTime: number,
  ): SessionObserver | void;
}
