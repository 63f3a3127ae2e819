// The Standard Schema v1 interface (https://standardschema.dev), which zod,
// valibot and arktype implement: written out here so the library keeps zero
// dependencies. Only the members the library reads are spelled out.

/** A validator that follows the Standard Schema v1 interface. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The interface's properties, under a key no validator uses otherwise. */
  readonly "~standard": StandardSchemaV1Props<Input, Output>;
}

/** The properties of a Standard Schema v1 validator. */
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

/** A validation result: a value, or issues. */
export type StandardSchemaV1Result<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaV1Issue[] };

/** One problem a validator found. */
export interface StandardSchemaV1Issue {
  /** What is wrong. */
  readonly message: string;
  /** Where, as keys or `{ key }` segments. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
}
