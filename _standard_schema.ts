// The Standard Schema v1 interface (https://standardschema.dev), which zod,
// valibot and arktype implement: written out here so the library keeps zero
// dependencies. Only the members the library reads are spelled out.

/**
 * A validator that follows the Standard Schema v1 interface.
 *
 * @example A hand-made validator
 * ```ts
 * import type { StandardSchemaV1 } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const positive: StandardSchemaV1<unknown, number> = {
 *   "~standard": {
 *     version: 1,
 *     vendor: "example",
 *     validate: (value) =>
 *       typeof value === "number" && value > 0
 *         ? { value }
 *         : { issues: [{ message: "Expected a positive number" }] },
 *   },
 * };
 * assert.deepEqual(positive["~standard"].validate(2), { value: 2 });
 * assert.equal((positive["~standard"].validate(-1) as { issues: unknown[] }).issues.length, 1);
 * ```
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The interface's properties, under a key no validator uses otherwise. */
  readonly "~standard": StandardSchemaV1Props<Input, Output>;
}

/**
 * The properties of a Standard Schema v1 validator.
 *
 * @example Properties
 * ```ts
 * import type { StandardSchemaV1Props, StandardSchemaV1Result, StandardSchemaV1Issue } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const props: StandardSchemaV1Props<unknown, string> = {
 *   version: 1,
 *   vendor: "example",
 *   validate: (value) => typeof value === "string" ? { value } : { issues: [{ message: "Expected a string" }] },
 * };
 * assert.deepEqual(props.validate("a"), { value: "a" });
 * ```
 */
export interface StandardSchemaV1Props<Input = unknown, Output = Input> {
  /** Always 1. */
  readonly version: 1;
  /** The library that made the validator. */
  readonly vendor: string;
  /** Validates a value: the output value, or the issues found. */
  readonly validate: (
    value: unknown,
  ) => StandardSchemaV1Result<Output> | Promise<StandardSchemaV1Result<Output>>;
  /** Type-only: the input and output types. */
  readonly types?: { readonly input: Input; readonly output: Output };
}

/**
 * A validation result: a value, or issues.
 *
 * @example Results
 * ```ts
 * import type { StandardSchemaV1Props, StandardSchemaV1Result, StandardSchemaV1Issue } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const ok: StandardSchemaV1Result<number> = { value: 1 };
 * const failed: StandardSchemaV1Result<number> = { issues: [{ message: "Expected a number" }] };
 * assert.equal("issues" in failed, !("issues" in ok));
 * ```
 */
export type StandardSchemaV1Result<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaV1Issue[] };

/**
 * One problem a validator found.
 *
 * @example An issue
 * ```ts
 * import type { StandardSchemaV1Props, StandardSchemaV1Result, StandardSchemaV1Issue } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const issue: StandardSchemaV1Issue = { message: "Too short", path: ["user", { key: "name" }] };
 * assert.equal(issue.path?.length, 2);
 * ```
 */
export interface StandardSchemaV1Issue {
  /** What is wrong. */
  readonly message: string;
  /** Where, as keys or `{ key }` segments. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}
