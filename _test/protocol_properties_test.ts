// The protocol's rule as a property: any valid message round-trips
// unchanged, any invalid one gets exactly one `error` answer (with the bad
// field's path) and the connection goes on serving.
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { App, defineProtocol } from "../mod.ts";
import { TestClient } from "../testing.ts";

const payload = z.object({
  text: z.string().max(20),
  n: z.number().int(),
  tags: z.array(z.string()).max(3),
});
const echo = defineProtocol({
  receives: { say: payload },
  sends: { said: payload },
});

const app = new App();
app.websocket("/echo", { protocol: echo }, async (ws) => {
  await ws.accept();
  for await (const m of ws.messages()) await ws.emit("said", m.data);
});

const valid = fc.record({
  text: fc.string({ maxLength: 20 }),
  n: fc.integer(),
  tags: fc.array(fc.string(), { maxLength: 3 }),
});

// Any JSON value as the payload, kept only when the schema refuses it.
const invalid = fc.jsonValue().filter((value) =>
  !payload.safeParse(value).success
);

Deno.test("Protocol property: valid messages round-trip, invalid ones get one error each and the loop goes on", async () => {
  await using session = await new TestClient(app).websocketConnect("/echo");
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        valid.map((data) => ({ ok: true, data })),
        invalid.map((data) => ({ ok: false, data })),
      ),
      async ({ ok, data }) => {
        await session.sendJson({ type: "say", data });
        const answer = await session.receiveJson();
        if (ok) {
          // (As JSON carries it: fast-check makes null-prototype objects.)
          assert.deepEqual(answer, {
            type: "said",
            data: JSON.parse(JSON.stringify(data)),
          });
          return;
        }
        const error = z.object({
          type: z.literal("error"),
          error: z.object({
            code: z.literal("invalid_data"),
            issues: z.array(z.object({
              path: z.array(z.union([z.string(), z.number()])),
            })).min(1),
          }),
        }).parse(answer);
        for (const issue of error.error.issues) {
          assert.equal(issue.path[0], "data");
        }
      },
    ),
    { numRuns: 200 },
  );
  // Nothing is left over: each message got exactly one answer.
  await session.sendJson({
    type: "say",
    data: { text: "end", n: 1, tags: [] },
  });
  assert.deepEqual(await session.receiveJson(), {
    type: "said",
    data: { text: "end", n: 1, tags: [] },
  });
});
