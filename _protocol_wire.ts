// The protocol's wire format, shared by the server session and the typed
// client: one JSON text frame per message, `{"type", "data"}`, a request
// with an `"id"`, answers with the same `"id"`, and `"error"` frames.
// Web APIs only: the typed client, which runs in browsers, imports it.
import type {
  StandardSchemaV1,
  StandardSchemaV1Issue,
  StandardSchemaV1Result,
} from "./_standard_schema.ts";
import { issuePath } from "./_validate.ts";

/** A request id, chosen by the side that asks. */
export type WireId = string | number;

/** One problem with a message, located in the frame as sent. */
export interface WireIssue {
  /** Keys from the frame's root to the bad value, e.g. `["data", "text"]`. */
  path: (string | number)[];
  /** What is wrong. */
  message: string;
}

/** The `error` member of an `error` frame. */
export interface WireError {
  /** A machine-readable code, e.g. `"invalid_data"`. */
  code: string;
  /** What went wrong, for people. */
  message: string;
  /** Where, for schema failures. */
  issues?: WireIssue[];
}

/** A parsed frame that has a string `type` (other members unchecked). */
export interface Frame {
  type: string;
  id?: unknown;
  data?: unknown;
  error?: unknown;
  [key: string]: unknown;
}

/** Why a frame could not be read; `id` when the frame had a usable one. */
export class InvalidFrame {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly id: WireId | undefined = undefined,
    readonly issues: WireIssue[] | undefined = undefined,
  ) {}

  /** The error body sent back. */
  body(): WireError {
    return this.issues === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, issues: this.issues };
  }
}

/** Error codes the library itself sends. */
export const ERROR_CODE = {
  /** The frame is not JSON text. */
  InvalidJson: "invalid_json",
  /** JSON, but not a message (no string `type`, a bad `id`, binary). */
  InvalidMessage: "invalid_message",
  /** A `type` the protocol does not declare. */
  UnknownType: "unknown_type",
  /** The `data` failed the schema of its type. */
  InvalidData: "invalid_data",
  /** A request without an `id`, or with the `id` of one still pending. */
  InvalidId: "invalid_id",
  /** The handler did not answer the request before the connection closed. */
  Unanswered: "unanswered",
  /** Over the route's `rateLimit`: the message was dropped, unread. */
  RateLimited: "rate_limited",
} as const;

/** Whether `value` can be a request id. */
export function isWireId(value: unknown): value is WireId {
  return typeof value === "string" ||
    (typeof value === "number" && Number.isFinite(value));
}

/**
 * Parses a text frame; an `InvalidFrame` when it is not JSON or not an
 * object with a string `type`. No copy: the parsed object is returned.
 */
export function parseFrame(text: string): Frame | InvalidFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new InvalidFrame(
      ERROR_CODE.InvalidJson,
      "Cannot read message: it is not valid JSON: send one JSON object per text frame",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new InvalidFrame(
      ERROR_CODE.InvalidMessage,
      'Cannot read message: expected a JSON object {"type", "data"}',
      undefined,
      [{ path: [], message: "Expected an object" }],
    );
  }
  const frame = value as Frame;
  const id = isWireId(frame.id) ? frame.id : undefined;
  if (frame.id !== undefined && id === undefined) {
    return new InvalidFrame(
      ERROR_CODE.InvalidId,
      'Cannot read message: "id" must be a string or a finite number',
      undefined,
      [{ path: ["id"], message: "Expected a string or a finite number" }],
    );
  }
  if (typeof frame.type !== "string") {
    return new InvalidFrame(
      ERROR_CODE.InvalidMessage,
      'Cannot read message: "type" must be a string',
      id,
      [{ path: ["type"], message: "Expected a string" }],
    );
  }
  return frame;
}

/** Runs a Standard Schema; the result, or a promise of it. */
export function runSchema(
  schema: StandardSchemaV1,
  value: unknown,
): StandardSchemaV1Result<unknown> | Promise<StandardSchemaV1Result<unknown>> {
  return schema["~standard"].validate(value);
}

/** A validator's issues, located under `prefix` in the frame. */
export function wireIssues(
  issues: readonly StandardSchemaV1Issue[],
  prefix: readonly (string | number)[],
): WireIssue[] {
  return issues.map((issue) => ({
    path: issuePath(issue, prefix),
    message: issue.message,
  }));
}

/** `data.text: Too long; data.from: Required`, for messages. */
export function describeIssues(issues: readonly WireIssue[]): string {
  return issues.map((issue) =>
    issue.path.length === 0
      ? issue.message
      : `${issue.path.join(".")}: ${issue.message}`
  ).join("; ");
}

// Built by concatenation: no wrapper object per message on the hot path.

/** `{"type":T,"data":D}`. */
export function encodeMessage(type: string, data: unknown): string {
  return `{"type":${JSON.stringify(type)},"data":${jsonOf(data)}}`;
}

/** `{"type":T,"id":I,"data":D}`. */
export function encodeRequest(type: string, id: WireId, data: unknown): string {
  return `{"type":${JSON.stringify(type)},"id":${JSON.stringify(id)},"data":${
    jsonOf(data)
  }}`;
}

/** `{"type":"error","id":I,"error":E}` (no `id` when there is none). */
export function encodeError(id: WireId | undefined, error: WireError): string {
  return id === undefined
    ? `{"type":"error","error":${JSON.stringify(error)}}`
    : `{"type":"error","id":${JSON.stringify(id)},"error":${
      JSON.stringify(error)
    }}`;
}

// `undefined` (a schema's output for an empty payload) has no JSON form:
// `null` keeps the frame valid.
function jsonOf(data: unknown): string {
  return JSON.stringify(data) ?? "null";
}

// Resuming broadcasts. On a protocol route, a message a `Broadcast` delivers
// carries its channel and, with a backend that keeps history, its position:
// `{"type", "data", "channel", "epoch", "offset"}`. The typed client keeps the
// last position per channel and, when it reconnects, sends them in the query
// parameter below, which the server reads as `ws.resume`.

/** The query parameter of a reconnection that says where to resume. */
export const RESUME_PARAM = "wsapi-resume";

/**
 * The last position the client received on one channel (the shape of a
 * broadcast `StreamPosition`, so it passes as `since`).
 *
 * @example One channel's position
 * ```ts
 * import type { ResumePosition } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const last: ResumePosition = { epoch: "e1", offset: 7 };
 * assert.equal(last.offset, 7);
 * ```
 */
export interface ResumePosition {
  /** The history's epoch. */
  readonly epoch: string;
  /** The offset of the last message received. */
  readonly offset: number;
}

/**
 * What `ws.resume` holds: the client's last position per channel.
 *
 * @example Reading the entry of a channel
 * ```ts
 * import type { ResumePositions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const resume: ResumePositions = { room: { epoch: "e1", offset: 7 } };
 * assert.deepEqual(resume["room"], { epoch: "e1", offset: 7 });
 * assert.equal(resume["elsewhere"], undefined);
 * ```
 */
export type ResumePositions = Readonly<Record<string, ResumePosition>>;

function isPosition(value: unknown): value is ResumePosition {
  const position = value as ResumePosition | null;
  return typeof position === "object" && position !== null &&
    typeof position.epoch === "string" &&
    Number.isSafeInteger(position.offset) && position.offset >= 0;
}

/**
 * A broadcast envelope's channel and position, when the frame has them
 * (the client ignores any other member it does not know).
 */
export function framePosition(
  frame: Frame,
): { channel: string; position: ResumePosition } | undefined {
  const { channel, epoch, offset } = frame;
  if (typeof channel !== "string") return undefined;
  const position = { epoch, offset };
  return isPosition(position) ? { channel, position } : undefined;
}

/** `url` with the resume parameter for `positions` (none: `url` itself). */
export function resumeUrl(
  url: string,
  positions: ReadonlyMap<string, ResumePosition>,
): string {
  if (positions.size === 0) return url;
  // Appended as text: the URL may be one the WebSocket constructor resolves
  // (relative, in a browser) that `new URL()` alone would reject.
  const value = encodeURIComponent(
    JSON.stringify(Object.fromEntries(positions)),
  );
  return `${url}${url.includes("?") ? "&" : "?"}${RESUME_PARAM}=${value}`;
}

/**
 * Reads the resume parameter: the well-formed entries, frozen; undefined
 * when it is absent or not a JSON object (a first connection, or another
 * client). Never throws: the value comes from the network.
 */
export function parseResume(text: string | null): ResumePositions | undefined {
  if (text === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return undefined;
  }
  // fromEntries defines own properties: a channel named "__proto__" stays
  // a channel.
  return Object.freeze(Object.fromEntries(
    Object.entries(value).filter(([, position]) => isPosition(position))
      .map((
        [channel, { epoch, offset }],
      ) => [channel, Object.freeze({ epoch, offset })]),
  ));
}

/**
 * A published JSON object (`{"type", "data"}`) with the envelope members
 * added: its channel and, when known, its position. Text that is not a
 * non-empty JSON object is returned as it is. One concatenation, no parse:
 * it runs once per published message.
 */
export function envelopeText(
  text: string,
  channel: string,
  position: ResumePosition | undefined,
): string {
  // JSON.stringify's output: an object starts with "{" and ends with "}";
  // "{}" has no member to put a comma after.
  if (text.charCodeAt(0) !== 0x7b || text.length < 3) return text;
  const where = position === undefined
    ? ""
    : `,"epoch":${JSON.stringify(position.epoch)},"offset":${position.offset}`;
  return `${text.slice(0, -1)},"channel":${JSON.stringify(channel)}${where}}`;
}
