/**
 * Typed message protocols: declare a route's messages once, with any
 * Standard Schema v1 validator (zod, valibot, arktype), and the server
 * (`ws.messages()`, `ws.emit()`), the typed client (`@wsapi/wsapi/client`)
 * and the test client all obey it.
 *
 * @module
 */
import type { StandardSchemaV1 } from "./_standard_schema.ts";
import type { WireIssue } from "./_protocol_wire.ts";
import { isSchema } from "./_validate.ts";

export type {
  ResumePosition,
  ResumePositions,
  WireError,
  WireIssue,
} from "./_protocol_wire.ts";

/** Message types, each with the schema of its `data`. */
export type MessageSchemas = Record<string, StandardSchemaV1>;

/** A request type: the schema of what is asked and of the answer. */
export interface RequestSchemas {
  /** Validates the request's `data`. */
  readonly input: StandardSchemaV1;
  /** Validates the answer's `data`. */
  readonly output: StandardSchemaV1;
}

/** Request types, each with its input and output schemas. */
export type RequestSchemaMap = Record<string, RequestSchemas>;

/**
 * What {@linkcode defineProtocol} takes: the client → server messages
 * (`receives`), the server → client messages (`sends`) and the requests
 * the client may make (`requests`).
 *
 * @example A definition
 * ```ts
 * import type { ProtocolDefinition } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const definition: ProtocolDefinition = { receives: { ping: z.object({}) } };
 * assert.deepEqual(Object.keys(definition.receives ?? {}), ["ping"]);
 * ```
 */
export interface ProtocolDefinition<
  R extends MessageSchemas = MessageSchemas,
  S extends MessageSchemas = MessageSchemas,
  Q extends RequestSchemaMap = RequestSchemaMap,
> {
  /** Client → server messages. @default {{}} */
  receives?: R;
  /** Server → client messages. @default {{}} */
  sends?: S;
  /** Client → server requests, answered once each. @default {{}} */
  requests?: Q;
}

/**
 * A declared protocol: a frozen object with exactly `receives`, `sends` and
 * `requests` (each present, `{}` when not declared), holding the schemas as
 * they were given. A route takes it as its `protocol` option and exposes it
 * as `route.options.protocol`.
 *
 * @example The shape
 * ```ts
 * import { defineProtocol, type Protocol } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const say = z.object({ text: z.string() });
 * const chat: Protocol = defineProtocol({ receives: { say } });
 * assert.equal(chat.receives.say, say);
 * assert.deepEqual(chat.sends, {});
 * assert.ok(Object.isFrozen(chat));
 * ```
 */
export interface Protocol<
  R extends MessageSchemas = MessageSchemas,
  S extends MessageSchemas = MessageSchemas,
  Q extends RequestSchemaMap = RequestSchemaMap,
> {
  /** Client → server messages. */
  readonly receives: Readonly<R>;
  /** Server → client messages. */
  readonly sends: Readonly<S>;
  /** Client → server requests. */
  readonly requests: Readonly<Q>;
}

/**
 * The type a schema accepts.
 *
 * @example Input of a zod schema
 * ```ts
 * import type { SchemaInput } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const n = z.string().transform(Number);
 * const input: SchemaInput<typeof n> = "1";
 * assert.equal(input, "1");
 * ```
 */
export type SchemaInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I
  : never;

/**
 * The type a schema produces.
 *
 * @example Output of a zod schema
 * ```ts
 * import type { SchemaOutput } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const n = z.string().transform(Number);
 * const output: SchemaOutput<typeof n> = 1;
 * assert.equal(output, 1);
 * ```
 */
export type SchemaOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O
  : never;

/**
 * A plain message, as a handler or client receives it.
 *
 * @example A message
 * ```ts
 * import type { ProtocolMessage } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const m: ProtocolMessage<"say", { text: string }> = { type: "say", data: { text: "hi" } };
 * assert.equal(m.data.text, "hi");
 * ```
 */
export interface ProtocolMessage<T extends string = string, D = unknown> {
  /** The message type. */
  readonly type: T;
  /** The validated payload. */
  readonly data: D;
}

/**
 * A request a handler received: answer it once, with `reply(data)` or
 * `fail(code, message)`, in any order relative to other requests.
 *
 * If the connection closes while it is unanswered (the handler returned,
 * threw or called `close()`), the server answers it with an `error` whose
 * code is `"unanswered"`; if the client has gone, nothing can be sent and
 * its `request()` rejects with `WebSocketDisconnect`.
 *
 * @example Answering
 * ```ts
 * import { App, defineProtocol } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const math = defineProtocol({
 *   requests: { sqrt: { input: z.number(), output: z.number() } },
 * });
 * const app = new App();
 * app.websocket("/math", { protocol: math }, async (ws) => {
 *   await ws.accept();
 *   for await (const m of ws.messages()) {
 *     if (m.data < 0) await m.fail("negative", "Cannot take the root of a negative number");
 *     else await m.reply(Math.sqrt(m.data));
 *   }
 * });
 * await using session = await new TestClient(app).websocketConnect("/math");
 * await session.sendJson({ type: "sqrt", id: 1, data: 9 });
 * assert.deepEqual(await session.receiveJson(), { type: "sqrt", id: 1, data: 3 });
 * await session.sendJson({ type: "sqrt", id: 2, data: -1 });
 * assert.deepEqual(await session.receiveJson(), {
 *   type: "error",
 *   id: 2,
 *   error: { code: "negative", message: "Cannot take the root of a negative number" },
 * });
 * ```
 */
export interface ProtocolRequest<
  T extends string = string,
  D = unknown,
  O = unknown,
> {
  /** The request type. */
  readonly type: T;
  /** The id the client chose; the answer carries it back. */
  readonly id: string | number;
  /** The validated payload. */
  readonly data: D;
  /**
   * Answers with `data`, validated against the request's `output` schema.
   *
   * @param data The answer.
   * @throws {TypeError} If `data` does not match `output` (nothing is sent;
   * the request stays unanswered).
   * @throws {Error} If the request was already answered.
   * @throws {WebSocketDisconnect} If the client has gone.
   */
  reply(data: O): Promise<void>;
  /**
   * Answers with an `error` message.
   *
   * @param code A machine-readable code, e.g. `"not_found"`.
   * @param message What went wrong, for people (sent to the client: no
   * internals).
   * @throws {TypeError} If `code` is empty or either is not a string.
   * @throws {Error} If the request was already answered.
   * @throws {WebSocketDisconnect} If the client has gone.
   */
  fail(code: string, message: string): Promise<void>;
}

/**
 * What a handler on a route with protocol `P` receives: a union of
 * {@linkcode ProtocolMessage} (for `receives`) and {@linkcode ProtocolRequest} (for
 * `requests`), discriminated by `type`.
 *
 * @example Narrowing
 * ```ts
 * import { defineProtocol, type IncomingMessage } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const p = defineProtocol({ receives: { say: z.object({ text: z.string() }) } });
 * function text(m: IncomingMessage<typeof p>): string {
 *   return m.type === "say" ? m.data.text : "";
 * }
 * assert.equal(text({ type: "say", data: { text: "hi" } }), "hi");
 * ```
 */
export type IncomingMessage<P extends Protocol> =
  | {
    [K in keyof P["receives"] & string]: ProtocolMessage<
      K,
      SchemaOutput<P["receives"][K]>
    >;
  }[keyof P["receives"] & string]
  | {
    [K in keyof P["requests"] & string]: ProtocolRequest<
      K,
      SchemaOutput<P["requests"][K]["input"]>,
      SchemaInput<P["requests"][K]["output"]>
    >;
  }[keyof P["requests"] & string];

/**
 * The message types a server may emit under protocol `P`.
 *
 * @example Types
 * ```ts
 * import { defineProtocol, type SendType } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const p = defineProtocol({ sends: { said: z.string() } });
 * const type: SendType<typeof p> = "said";
 * assert.equal(type, "said");
 * ```
 */
export type SendType<P extends Protocol> = keyof P["sends"] & string;

/**
 * The `data` a server emits with type `T` under protocol `P`.
 *
 * @example Data
 * ```ts
 * import { defineProtocol, type SendData } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const p = defineProtocol({ sends: { said: z.object({ text: z.string() }) } });
 * const data: SendData<typeof p, "said"> = { text: "hi" };
 * assert.equal(data.text, "hi");
 * ```
 */
export type SendData<P extends Protocol, T extends SendType<P>> = SchemaInput<
  P["sends"][T]
>;

/**
 * The arguments of `ws.emit()` under protocol `P`: a declared type and its
 * data, as a tuple (so that the pair is checked together).
 *
 * @example Arguments
 * ```ts
 * import { defineProtocol, type EmitArgs } from "@wsapi/wsapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const p = defineProtocol({ sends: { said: z.string(), left: z.number() } });
 * const args: EmitArgs<typeof p> = ["said", "hi"];
 * assert.deepEqual(args, ["said", "hi"]);
 * ```
 */
export type EmitArgs<P extends Protocol> = {
  [T in SendType<P>]: [type: T, data: SendData<P, T>];
}[SendType<P>];

/**
 * What happens to a message that is not JSON, has an unknown `type` or fails
 * its schema: `"error"` answers with an `error` message and goes on;
 * `"close"` closes the connection with 1007 (not JSON) or 1008 (the rest).
 *
 * @example A strict route
 * ```ts
 * import type { InvalidMessagePolicy } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const policy: InvalidMessagePolicy = "close";
 * assert.equal(policy, "close");
 * ```
 */
export type InvalidMessagePolicy = "error" | "close";

/**
 * An `error` answer from the other side: its `code`, `message` and, for a
 * schema failure, the `issues` with their paths in the frame.
 *
 * @example Inspecting an error
 * ```ts
 * import { ProtocolError } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const error = new ProtocolError("invalid_data", "Bad input", [{ path: ["data", "limit"], message: "Too big" }]);
 * assert.equal(error.name, "ProtocolError");
 * assert.deepEqual(error.issues[0].path, ["data", "limit"]);
 * ```
 */
export class ProtocolError extends Error {
  /** The error code, e.g. `"invalid_data"` or one from `m.fail()`. */
  readonly code: string;
  /** Where the input was wrong (empty when not a schema failure). */
  readonly issues: readonly WireIssue[];

  /**
   * Creates the error.
   *
   * @param code The code.
   * @param message The message.
   * @param issues The issues. @default {[]}
   */
  constructor(
    code: string,
    message: string,
    issues: readonly WireIssue[] = [],
  ) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.issues = issues;
  }
}

/**
 * Declares a protocol. Message type names are non-empty strings; `"error"`
 * is reserved for error messages, and a name may not be both a message and
 * a request the client sends.
 *
 * @param definition The schemas, by message type.
 * @returns A frozen {@linkcode Protocol} holding the schemas unchanged.
 * @throws {TypeError} If a value is not a Standard Schema v1 validator, a
 * name is reserved, empty or used twice.
 *
 * @example A chat protocol
 * ```ts
 * import { App, defineProtocol } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const chat = defineProtocol({
 *   receives: { say: z.object({ text: z.string().max(500) }) },
 *   sends: { said: z.object({ from: z.string(), text: z.string() }) },
 * });
 * const app = new App();
 * app.websocket("/rooms/{room}", { protocol: chat }, async (ws) => {
 *   await ws.accept();
 *   for await (const m of ws.messages()) {
 *     if (m.type === "say") await ws.emit("said", { from: "alice", text: m.data.text });
 *   }
 * });
 * await using session = await new TestClient(app).websocketConnect("/rooms/a");
 * await session.sendJson({ type: "say", data: { text: "hi" } });
 * assert.deepEqual(await session.receiveJson(), { type: "said", data: { from: "alice", text: "hi" } });
 * ```
 */
export function defineProtocol<
  R extends MessageSchemas = Record<never, never>,
  S extends MessageSchemas = Record<never, never>,
  Q extends RequestSchemaMap = Record<never, never>,
>(definition: ProtocolDefinition<R, S, Q>): Protocol<R, S, Q> {
  if (typeof definition !== "object" || definition === null) {
    throw new TypeError(
      "Cannot define protocol: expected an object { receives, sends, requests }",
    );
  }
  for (const key of Object.keys(definition)) {
    if (key !== "receives" && key !== "sends" && key !== "requests") {
      throw new TypeError(
        `Cannot define protocol: unknown field "${key}": use receives, sends and requests`,
      );
    }
  }
  const receives = schemasOf("receives", definition.receives);
  const sends = schemasOf("sends", definition.sends);
  const requests = definition.requests ?? {};
  assertTable("requests", requests);
  for (const [name, request] of Object.entries(requests)) {
    assertName("requests", name);
    if (typeof request !== "object" || request === null) {
      throw new TypeError(
        `Cannot define protocol: requests."${name}" must be { input, output }`,
      );
    }
    for (const part of ["input", "output"] as const) {
      if (!isSchema((request as Partial<RequestSchemas>)[part])) {
        throw new TypeError(
          `Cannot define protocol: requests."${name}".${part} is not a Standard Schema v1 validator: pass a zod, valibot or arktype schema`,
        );
      }
    }
    if (Object.hasOwn(receives, name)) {
      throw new TypeError(
        `Cannot define protocol: "${name}" is both in receives and in requests: a client message must be one or the other`,
      );
    }
  }
  return Object.freeze({
    receives: receives as Readonly<R>,
    sends: sends as Readonly<S>,
    requests: requests as Readonly<Q>,
  });
}

function schemasOf(field: string, table: MessageSchemas | undefined) {
  if (table === undefined) return {};
  assertTable(field, table);
  for (const [name, schema] of Object.entries(table)) {
    assertName(field, name);
    if (!isSchema(schema)) {
      throw new TypeError(
        `Cannot define protocol: ${field}."${name}" is not a Standard Schema v1 validator: pass a zod, valibot or arktype schema`,
      );
    }
  }
  return table;
}

function assertTable(field: string, table: unknown): void {
  if (typeof table !== "object" || table === null || Array.isArray(table)) {
    throw new TypeError(
      `Cannot define protocol: ${field} must be an object of schemas by message type`,
    );
  }
}

function assertName(field: string, name: string): void {
  if (name === "") {
    throw new TypeError(
      `Cannot define protocol: ${field} has an empty message type: name it`,
    );
  }
  if (name === "error") {
    throw new TypeError(
      `Cannot define protocol: ${field}."error" is reserved for error messages: choose another name`,
    );
  }
}
