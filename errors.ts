/**
 * The errors an application and its clients meet.
 *
 * Three kinds, never mixed:
 * - API misuse (calling a method in the wrong state, a bad close code) throws
 *   the built-in `Error`, `TypeError` or `RangeError`.
 * - The peer went away: {@linkcode WebSocketDisconnect}.
 * - Application outcomes: {@linkcode WebSocketException},
 *   {@linkcode HTTPException}, {@linkcode RequestValidationError},
 *   {@linkcode WebSocketRequestValidationError} and
 *   {@linkcode NoMatchFound}.
 *
 * This module imports nothing else of the library, so any module may throw
 * these.
 *
 * @module
 */

/**
 * The client left: thrown by the typed receive and send helpers of a
 * `WebSocket` once the connection is gone, carrying the close code and reason
 * the client sent (1006 when it vanished without a close frame).
 *
 * A `WebSocketDisconnect` that escapes a handler is a normal end, not an
 * error: nothing is logged.
 *
 * @example Catching a disconnect
 * ```ts
 * import { WebSocketDisconnect } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const error = new WebSocketDisconnect(1001, "page closed");
 * assert.ok(error instanceof Error);
 * assert.equal(error.code, 1001);
 * assert.equal(error.reason, "page closed");
 * assert.equal(new WebSocketDisconnect().code, 1000);
 * ```
 */
export class WebSocketDisconnect extends Error {
  /** The close code the client sent (1006 when there was no close frame). */
  readonly code: number;
  /** The close reason the client sent, `""` when none. */
  readonly reason: string;

  /**
   * Creates a disconnect error.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  constructor(code = 1000, reason = "") {
    super(
      reason === ""
        ? `WebSocket disconnected with code ${code}`
        : `WebSocket disconnected with code ${code}: ${reason}`,
    );
    this.name = "WebSocketDisconnect";
    this.code = code;
    this.reason = reason;
  }
}

/**
 * Thrown by an application (a handler or a dependency) to end a WebSocket
 * connection with a close code and reason.
 *
 * - Before `accept()`: the handshake is refused (HTTP 403 on the wire; the
 *   test client rejects with `WebSocketDisconnect(code, reason)`).
 * - After `accept()`: the socket closes with this code and reason.
 *
 * @example Refusing a connection from a handler
 * ```ts
 * import { App, CLOSE_CODE, WebSocketDisconnect, WebSocketException } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", () => {
 *   throw new WebSocketException(CLOSE_CODE.PolicyViolation, "no token");
 * });
 * const error = await new TestClient(app).websocketConnect("/ws").catch((e) => e);
 * assert.ok(error instanceof WebSocketDisconnect);
 * assert.equal(error.code, 1008);
 * assert.equal(error.reason, "no token");
 * ```
 */
export class WebSocketException extends Error {
  /** The close code to send. */
  readonly code: number;
  /** The close reason to send (at most 123 UTF-8 bytes). */
  readonly reason: string;

  /**
   * Creates the exception.
   *
   * @param code The close code (see `CLOSE_CODE`; 1000, 1001–1014 except
   * 1004–1006, or 3000–4999).
   * @param reason The close reason, at most 123 UTF-8 bytes.
   */
  constructor(code: number, reason = "") {
    super(`${code}: ${reason}`);
    this.name = "WebSocketException";
    this.code = code;
    this.reason = reason;
  }
}

// Reason phrases for the statuses an application is likely to raise; others
// fall back to "Error" so a detail is never empty.
const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * An HTTP error response raised by an application.
 *
 * - On an HTTP route: the response is `status` with JSON `{"detail": detail}`
 *   and the given headers.
 * - In a WebSocket handler or dependency before `accept()`: the same response
 *   is sent instead of the handshake (a denial response).
 *
 * @example Denying a WebSocket handshake with 401
 * ```ts
 * import { App, HTTPException } from "@wsapi/wsapi";
 * import { TestClient, WebSocketDenialResponse } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", () => {
 *   throw new HTTPException(401, "Missing token", { "www-authenticate": "Bearer" });
 * });
 * const error = await new TestClient(app).websocketConnect("/ws").catch((e) => e);
 * assert.ok(error instanceof WebSocketDenialResponse);
 * assert.equal(error.response.status, 401);
 * assert.equal(error.response.headers.get("www-authenticate"), "Bearer");
 * assert.deepEqual(await error.response.json(), { detail: "Missing token" });
 * ```
 */
export class HTTPException extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The detail sent as JSON `{"detail": ...}`; the reason phrase when not given. */
  readonly detail: unknown;
  /** Extra response headers. */
  readonly headers: Headers;

  /**
   * Creates the exception.
   *
   * @param status An HTTP status from 400 to 599.
   * @param detail Any JSON value; defaults to the status's reason phrase.
   * @param headers Extra response headers.
   * @throws {RangeError} If `status` is not from 400 to 599.
   */
  constructor(status: number, detail?: unknown, headers?: HeadersInit) {
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(
        `Cannot create HTTPException: status ${status} is not an error status: use a status from 400 to 599`,
      );
    }
    const text = detail ?? STATUS_TEXT[status] ?? "Error";
    super(typeof text === "string" ? text : JSON.stringify(text));
    this.name = "HTTPException";
    this.status = status;
    this.detail = text;
    this.headers = new Headers(headers);
  }

  /**
   * Renders the exception as the response a client receives.
   *
   * @returns A JSON response `{"detail": ...}` with the status and headers.
   *
   * @example Rendering
   * ```ts
   * import { HTTPException } from "@wsapi/wsapi";
   * import assert from "node:assert/strict";
   *
   * const response = new HTTPException(404).toResponse();
   * assert.equal(response.status, 404);
   * assert.deepEqual(await response.json(), { detail: "Not Found" });
   * ```
   */
  toResponse(): Response {
    const headers = new Headers(this.headers);
    headers.set("content-type", "application/json");
    return new Response(JSON.stringify({ detail: this.detail }), {
      status: this.status,
      headers,
    });
  }
}

/**
 * One validation failure, shaped like FastAPI's: where it was (`loc`, the
 * source then the name, e.g. `["query", "token"]`), a message, a machine
 * readable `type`, and the rejected input.
 *
 * @example An issue
 * ```ts
 * import { type ValidationIssue, WebSocketRequestValidationError } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const issue: ValidationIssue = { loc: ["path", "item_id"], msg: "Input should be a valid integer", type: "int_parsing", input: "abc" };
 * assert.equal(new WebSocketRequestValidationError([issue]).reason, "path.item_id: Input should be a valid integer");
 * ```
 */
export interface ValidationIssue {
  /** Where the bad value came from: source, then name or path. */
  loc: (string | number)[];
  /** A human-readable message. */
  msg: string;
  /** A machine-readable kind, e.g. `"missing"` or `"int_parsing"`. */
  type: string;
  /** The rejected input, when there was one. */
  input?: unknown;
}

// Close reasons are limited to 123 bytes by RFC 6455 §5.5 (a control frame
// carries at most 125 bytes, two of which are the code).
const MAX_REASON_BYTES = 123;
const encoder = new TextEncoder();

function truncateUtf8(text: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: most reasons need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  // Keep room for "…" (3 bytes), then back up to a character boundary:
  // continuation bytes look like 0b10xxxxxx.
  let end = maxBytes - 3;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)) + "…";
}

function summarise(issues: readonly ValidationIssue[]): string {
  if (issues.length === 0) return "Validation failed";
  const first = issues[0];
  const where = first.loc.join(".");
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : "";
  return `${where}: ${first.msg}${more}`;
}

/**
 * A WebSocket parameter or message failed validation.
 *
 * Raised while resolving a route's parameters (the handshake is refused with
 * close code 1008 and {@linkcode WebSocketRequestValidationError.reason}) or
 * by `receiveJson(schema)` for one bad message, which a handler may catch,
 * answer, and go on.
 *
 * @example Reading the errors
 * ```ts
 * import { WebSocketRequestValidationError } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const error = new WebSocketRequestValidationError([
 *   { loc: ["query", "token"], msg: "Field required", type: "missing" },
 * ]);
 * assert.equal(error.code, 1008);
 * assert.equal(error.reason, "query.token: Field required");
 * assert.equal(error.errors.length, 1);
 * ```
 */
export class WebSocketRequestValidationError extends Error {
  /** Every failure found, in declaration order. */
  readonly errors: readonly ValidationIssue[];
  /** Always 1008 (policy violation). */
  readonly code: 1008 = 1008;
  /** A summary of the errors that fits a close frame (≤ 123 UTF-8 bytes). */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param errors The validation failures.
   */
  constructor(errors: readonly ValidationIssue[]) {
    const summary = summarise(errors);
    super(summary);
    this.name = "WebSocketRequestValidationError";
    this.errors = errors;
    this.reason = truncateUtf8(summary, MAX_REASON_BYTES);
  }
}

/**
 * An HTTP request's parameters failed validation: the response is 422 with
 * JSON `{"detail": errors}`.
 *
 * @example Rendering
 * ```ts
 * import { RequestValidationError } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const error = new RequestValidationError([
 *   { loc: ["query", "q"], msg: "Input should be a valid integer", type: "int_parsing", input: "x" },
 * ]);
 * const response = error.toResponse();
 * assert.equal(response.status, 422);
 * assert.equal((await response.json()).detail[0].type, "int_parsing");
 * ```
 */
export class RequestValidationError extends Error {
  /** Every failure found, in declaration order. */
  readonly errors: readonly ValidationIssue[];

  /**
   * Creates the error.
   *
   * @param errors The validation failures.
   */
  constructor(errors: readonly ValidationIssue[]) {
    super(summarise(errors));
    this.name = "RequestValidationError";
    this.errors = errors;
  }

  /**
   * Renders the error as the 422 response a client receives.
   *
   * @returns A JSON response `{"detail": errors}` with status 422.
   */
  toResponse(): Response {
    return Response.json({ detail: this.errors }, { status: 422 });
  }
}

/**
 * No route has the given name, or the given parameters do not fit it: thrown
 * by `app.urlPathFor()` and `conn.urlFor()`.
 *
 * @example Reversing an unknown name
 * ```ts
 * import { App, NoMatchFound } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * assert.throws(() => app.urlPathFor("nope", { id: 1 }), NoMatchFound);
 * ```
 */
export class NoMatchFound extends Error {
  /** The route name asked for. */
  readonly routeName: string;
  /** The parameter names given. */
  readonly params: readonly string[];

  /**
   * Creates the error.
   *
   * @param name The route name asked for.
   * @param params The parameter names given.
   */
  constructor(name: string, params: readonly string[] = []) {
    super(
      `No route exists for name "${name}" and params "${params.join(", ")}"`,
    );
    this.name = "NoMatchFound";
    this.routeName = name;
    this.params = params;
  }
}
