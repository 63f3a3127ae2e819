// Standard Schema results as validation issues, FastAPI's way: one issue per
// schema issue, located under `loc` and then the issue's own path (array
// indices stay numbers, as in FastAPI's `loc`). Shared by message bodies
// (WebSocket.receiveJson) and handshake parameters (_dependencies.ts).
import {
  type ValidationIssue,
  WebSocketRequestValidationError,
} from "./errors.ts";
import type {
  StandardSchemaV1,
  StandardSchemaV1Issue,
} from "./_standard_schema.ts";

/** Whether `decoder` is a Standard Schema rather than a converter. */
export function isSchema(decoder: unknown): decoder is StandardSchemaV1 {
  return typeof decoder === "object" && decoder !== null &&
    "~standard" in decoder;
}

/** Appends the issues of a failed validation of `input` to `into`. */
export function pushIssues(
  into: ValidationIssue[],
  issues: readonly StandardSchemaV1Issue[],
  loc: readonly (string | number)[],
  input: unknown,
): void {
  for (const issue of issues) {
    const path: (string | number)[] = [...loc];
    for (const part of issue.path ?? []) {
      const key = typeof part === "object" ? part.key : part;
      path.push(typeof key === "number" ? key : String(key));
    }
    into.push({ loc: path, msg: issue.message, type: "value_error", input });
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
