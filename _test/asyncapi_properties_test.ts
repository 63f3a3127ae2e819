// Property: whatever a route's Standard Schema accepts, the JSON Schema the
// AsyncAPI document gives for it accepts too (ajv), for the validators that
// produce one: zod 4 and arktype (Standard JSON Schema), valibot (its
// converter package), a hand-written Standard JSON Schema object, and a schema
// with a toJsonSchema() method (arktype's, without the standard interface). Values go through JSON
// first, as they do on the wire.
import assert from "node:assert/strict";
import fc from "fast-check";
import { Ajv } from "ajv";
import { z } from "zod";
import * as v from "valibot";
import { type } from "arktype";
import { toJsonSchema } from "@valibot/to-json-schema";
import { App, type StandardSchemaV1 } from "../mod.ts";
import { asyncapi, type JsonObject } from "../asyncapi.ts";

const zodSchema = z.object({
  text: z.string().min(1).max(20),
  count: z.number().int().min(0).max(100),
  flag: z.boolean().optional(),
  tags: z.array(z.string().max(5)).max(3),
  kind: z.enum(["a", "b"]),
  nested: z.object({ x: z.number() }).optional(),
  maybe: z.string().nullable(),
});

const valibotSchema = v.object({
  text: v.pipe(v.string(), v.minLength(1), v.maxLength(20)),
  count: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100)),
  flag: v.optional(v.boolean()),
  tags: v.pipe(v.array(v.pipe(v.string(), v.maxLength(5))), v.maxLength(3)),
  kind: v.picklist(["a", "b"]),
  nested: v.optional(v.object({ x: v.number() })),
  maybe: v.nullable(v.string()),
});

const arktypeSchema = type({
  text: "1 <= string <= 20",
  count: "0 <= number.integer <= 100",
  "flag?": "boolean",
  tags: "(string <= 5)[] <= 3",
  kind: "'a' | 'b'",
  "nested?": { x: "number" },
  maybe: "string | null",
});

// Only a toJsonSchema() method, as older validators offer.
const methodSchema = {
  "~standard": {
    version: 1 as const,
    vendor: "method",
    validate: arktypeSchema["~standard"].validate,
  },
  toJsonSchema: () => arktypeSchema.toJsonSchema(),
};

// A validator that implements the Standard JSON Schema interface by hand.
const handSchema = {
  "~standard": {
    version: 1 as const,
    vendor: "hand",
    validate(value: unknown) {
      const ok = typeof value === "object" && value !== null &&
        typeof (value as { text?: unknown }).text === "string" &&
        ((value as { text: string }).text.length <= 20) &&
        Number.isInteger((value as { count?: unknown }).count);
      return ok ? { value } : { issues: [{ message: "Expected text, count" }] };
    },
    jsonSchema: {
      input: () => ({
        type: "object",
        properties: {
          text: { type: "string", maxLength: 20 },
          count: { type: "integer" },
        },
        required: ["text", "count"],
      }),
      output: () => ({}),
    },
  },
};

// Candidates near the schemas' shape: each field mostly right, sometimes
// wrong or missing, so both accepted and rejected values come up.
const mostly = <T, U>(right: fc.Arbitrary<T>, wrong: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: right, weight: 6 }, { arbitrary: wrong, weight: 1 });
const fields = {
  text: mostly(
    fc.string({ minLength: 1, maxLength: 20 }),
    fc.oneof(fc.string(), fc.integer()),
  ),
  count: mostly(
    fc.integer({ min: 0, max: 100 }),
    fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.string()),
  ),
  flag: mostly(fc.boolean(), fc.constant("yes")),
  tags: mostly(
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    fc.array(fc.string({ maxLength: 7 }), { maxLength: 5 }),
  ),
  kind: mostly(fc.constantFrom("a", "b"), fc.constant("c")),
  nested: mostly(
    fc.record({ x: fc.double({ noNaN: true }) }),
    fc.oneof(fc.constant(null), fc.record({ x: fc.string() })),
  ),
  maybe: mostly(fc.option(fc.string({ maxLength: 5 })), fc.integer()),
  extra: fc.string(),
};
const candidate = fc.oneof(
  {
    arbitrary: fc.record(fields, {
      requiredKeys: ["text", "count", "tags", "kind", "maybe"],
    }),
    weight: 8,
  },
  { arbitrary: fc.record(fields, { requiredKeys: [] }), weight: 1 },
  { arbitrary: fc.jsonValue(), weight: 1 },
);

function jsonSchemaOf(
  schema: StandardSchemaV1,
  options: Parameters<typeof asyncapi>[1] = {},
): JsonObject {
  const app = new App();
  app.websocket("/ws", {
    name: "ws",
    protocol: { receives: { m: schema }, sends: {}, requests: {} },
  }, (ws) => ws.accept());
  const doc = asyncapi(app, options);
  assert.deepEqual(doc["x-wsapi-undescribed"], []);
  return doc.components.schemas.ws_m;
}

const CASES: [string, StandardSchemaV1, Parameters<typeof asyncapi>[1]][] = [
  ["zod 4", zodSchema, {}],
  ["valibot", valibotSchema, {
    jsonSchema: (schema) =>
      toJsonSchema(schema as Parameters<typeof toJsonSchema>[0]) as JsonObject,
  }],
  ["arktype", arktypeSchema as StandardSchemaV1, {}],
  ["a Standard JSON Schema object", handSchema as StandardSchemaV1, {}],
  ["a schema with a toJsonSchema() method", methodSchema, {}],
];

for (const [name, schema, options] of CASES) {
  Deno.test(`asyncapi(): what ${name} accepts, the document's JSON Schema accepts`, async () => {
    const validate = new Ajv({ strict: false }).compile(
      jsonSchemaOf(schema, options),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(candidate, async (value) => {
        const wire = JSON.parse(JSON.stringify(value));
        const result = await schema["~standard"].validate(wire);
        if (result.issues !== undefined) return;
        accepted++;
        assert.ok(
          validate(wire),
          `${JSON.stringify(wire)}: ${JSON.stringify(validate.errors)}`,
        );
      }),
      { numRuns: 2000 },
    );
    // The property must have been exercised, not vacuously true.
    assert.ok(accepted >= 20, `only ${accepted} candidates were valid`);
  });
}
