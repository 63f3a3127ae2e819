// JSON Schema from a Standard Schema validator, without importing any
// validator: the schema object is asked for what it offers, in this order:
//   1. a converter the caller passes (e.g. valibot's `toJsonSchema`),
//   2. the Standard JSON Schema interface, `~standard.jsonSchema.input/output`
//      (https://standardschema.dev/json-schema: zod 4, arktype, valibot through
//      `toStandardJsonSchema`),
//   3. a `toJsonSchema()` method on the schema itself (arktype).
// What none of them describes is reported with the reason, never guessed.
import type { StandardSchemaV1 } from "./_standard_schema.ts";

/**
 * A JSON object (a JSON Schema, an AsyncAPI object).
 *
 * @example A JSON Schema
 * ```ts
 * import type { JsonObject } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const schema: JsonObject = { type: "string", maxLength: 500 };
 * assert.equal(schema.type, "string");
 * ```
 */
export type JsonObject = Record<string, unknown>;

/**
 * Which side of validation a schema describes: `"input"`, what a peer
 * sends (messages the client sends, request inputs), or `"output"`, what
 * validation gives (messages the server sends, request outputs).
 *
 * @example Usage
 * ```ts
 * import type { SchemaDirection } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const direction: SchemaDirection = "input";
 * assert.equal(direction, "input");
 * ```
 */
export type SchemaDirection = "input" | "output";

/**
 * A caller's JSON Schema converter, for validators with no JSON Schema
 * output of their own: a JSON Schema (draft-07) for `schema`, or
 * `undefined` to fall back to what the schema offers itself.
 *
 * @example valibot, through its converter package
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { asyncapi, type JsonObject, type JsonSchemaConverter } from "@wsapi/wsapi/asyncapi";
 * import { toJsonSchema } from "@valibot/to-json-schema";
 * import * as v from "valibot";
 * import assert from "node:assert/strict";
 *
 * const valibot: JsonSchemaConverter = (schema) =>
 *   schema["~standard"].vendor === "valibot"
 *     ? toJsonSchema(schema as Parameters<typeof toJsonSchema>[0]) as JsonObject
 *     : undefined;
 * const app = new App();
 * app.websocket("/ws", {
 *   name: "ws",
 *   protocol: { receives: { say: v.object({ text: v.string() }) }, sends: {}, requests: {} },
 * }, async (ws) => await ws.accept());
 * const doc = asyncapi(app, { jsonSchema: valibot });
 * assert.deepEqual(doc.components.schemas.ws_say, {
 *   type: "object",
 *   properties: { text: { type: "string" } },
 *   required: ["text"],
 * });
 * ```
 */
export type JsonSchemaConverter = (
  schema: StandardSchemaV1,
  direction: SchemaDirection,
) => JsonObject | undefined;

/** A description: the schema, or why there is none. */
export type Described =
  | { readonly schema: JsonObject; readonly problem?: undefined }
  | { readonly schema?: undefined; readonly problem: string };

// AsyncAPI's Schema Object is a superset of JSON Schema draft-07, so that is
// the target asked for.
const TARGET = "draft-07";

interface StandardJsonSchemaProps {
  readonly jsonSchema?: {
    readonly input?: (options: { target: string }) => unknown;
    readonly output?: (options: { target: string }) => unknown;
  };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // A converter's message can run long (zod lists the path); one line is enough.
  // Its closing period is dropped: the reason is quoted inside sentences.
  const line = message.split("\n")[0].replace(/(?<!\.)\.$/, "");
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/**
 * Describes `schema` as JSON Schema (draft-07, without `$schema`), or says
 * why it cannot.
 */
export function describeSchema(
  schema: StandardSchemaV1,
  direction: SchemaDirection,
  converter?: JsonSchemaConverter,
): Described {
  const props = schema["~standard"] as
    | (StandardSchemaV1["~standard"] & StandardJsonSchemaProps)
    | undefined;
  const vendor = typeof props?.vendor === "string" ? props.vendor : "unknown";
  const attempts: (() => unknown)[] = [];
  if (converter !== undefined) {
    attempts.push(() => converter(schema, direction));
  }
  const standard = props?.jsonSchema?.[direction];
  if (typeof standard === "function") {
    attempts.push(() => standard.call(props!.jsonSchema, { target: TARGET }));
  }
  const method = (schema as { toJsonSchema?: unknown }).toJsonSchema;
  if (typeof method === "function") attempts.push(() => method.call(schema));
  if (attempts.length === 0) {
    return {
      problem:
        `the "${vendor}" validator offers no JSON Schema (neither ~standard.jsonSchema nor toJsonSchema()): pass a jsonSchema converter in the options`,
    };
  }
  let failure: string | undefined;
  for (const attempt of attempts) {
    let result: unknown;
    try {
      result = attempt();
    } catch (error) {
      failure ??=
        `the "${vendor}" validator cannot express it as JSON Schema: ${
          reason(error)
        }`;
      continue;
    }
    if (result === undefined) continue;
    if (isObject(result) || typeof result === "boolean") {
      const json = typeof result === "boolean"
        ? (result ? {} : { not: {} })
        : JSON.parse(JSON.stringify(result)) as JsonObject;
      delete json.$schema;
      return { schema: json };
    }
    failure ??=
      `the "${vendor}" validator's JSON Schema output is not an object`;
  }
  return {
    problem: failure ??
      `the jsonSchema converter gave nothing for this "${vendor}" schema`,
  };
}

/**
 * Rewrites the local `$ref`s of a schema (`#`, `#/definitions/x`,
 * `#/$defs/x`) so they still resolve once the schema sits at `base` inside a
 * larger document. Mutates and returns `schema`.
 */
export function rebaseRefs(schema: JsonObject, base: string): JsonObject {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (
        key === "$ref" && typeof value === "string" && value.startsWith("#")
      ) {
        node.$ref = base + value.slice(1);
      } else visit(value);
    }
  };
  visit(schema);
  return schema;
}
