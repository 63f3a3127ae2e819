// Standard Schema results as validation issues, FastAPI's way: one issue per
// schema issue, located under `loc` and then the issue's own path (array
// indices stay numbers, as in FastAPI's `loc`). Shared by message bodies
// (WebSocket.receiveJson), handshake parameters (_dependencies.ts) and the
// protocol's wire issues (_protocol_wire.ts, which the typed client runs in
// browsers: nothing here may need more than web APIs).
import {
  type ValidationIssue,
  WebSocketRequestValidationError,
} from "./errors.ts";
import type {
  StandardSchemaV1,
  StandardSchemaV1Issue,
} from "./_standard_schema.ts";

/**
 * Whether `value` is a Standard Schema (rather than a converter): an object,
 * or a function as arktype's are, with a `~standard.validate` function.
 */
export function isSchema(value: unknown): value is StandardSchemaV1 {
  if (
    (typeof value !== "object" && typeof value !== "function") ||
    value === null
  ) return false;
  const props = (value as { "~standard"?: { validate?: unknown } })[
    "~standard"
  ];
  return typeof props === "object" && props !== null &&
    typeof props.validate === "function";
}

/** Where an issue is: `loc`, then the issue's own path (keys as strings). */
export function issuePath(
  issue: StandardSchemaV1Issue,
  loc: readonly (string | number)[],
): (string | number)[] {
  const path: (string | number)[] = [...loc];
  for (const part of issue.path ?? []) {
    const key = typeof part === "object" ? part.key : part;
    path.push(typeof key === "number" ? key : String(key));
  }
  return path;
}

/** Appends the issues of a failed validation of `input` to `into`. */
export function pushIssues(
  into: ValidationIssue[],
  issues: readonly StandardSchemaV1Issue[],
  loc: readonly (string | number)[],
  input: unknown,
): void {
  for (const issue of issues) {
    into.push({
      loc: issuePath(issue, loc),
      msg: issue.message,
      type: "value_error",
      input,
    });
  }
}

/**
 * Validates `value` with a Standard Schema; failures become a
 * `WebSocketRequestValidationError` located under `loc`.
 */
export async function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  loc: readonly (string | number)[],
): Promise<T> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues === undefined) return result.value;
  const errors: ValidationIssue[] = [];
  pushIssues(errors, result.issues, loc, value);
  throw new WebSocketRequestValidationError(errors);
}
