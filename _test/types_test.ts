// Compile-time tests: `deno check` (and `deno test`, which type-checks) must
// pass this file, and every `@ts-expect-error` must be needed. The runtime
// test at the end only proves the declarations also work.
import assert from "node:assert/strict";
import { z } from "zod";
import {
  App,
  bearerFromSubprotocol,
  Cookie,
  Depends,
  float,
  Header,
  httpBearer,
  int,
  list,
  Path,
  Query,
  Security,
  SecurityScopes,
  uuid,
} from "../mod.ts";
import { TestClient } from "../testing.ts";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectType<T>(_value: T): void {}
function expectExact<A, B>(_proof: Equals<A, B>): void {}

const user = Depends(() => Promise.resolve({ id: 1, name: "alice" }));
const session = Depends(function* () {
  yield { sid: "s" };
});
const streamed = Depends(async function* () {
  yield 42n;
});
const withParams = Depends(
  { token: Query({ optional: true }), page: Query(int, { default: 1 }) },
  ({ token, page }) => {
    expectExact<typeof token, string | undefined>(true);
    expectExact<typeof page, number>(true);
    return { token, page };
  },
);

const app = new App();

app.websocket("/items/{item_id}/ws", {
  params: {
    itemId: Path(int, { name: "item_id" }),
    q: Query({ optional: true }),
    n: Query(float, { default: 1.5 }),
    tags: Query(list(int), { default: [] }),
    key: Query(uuid, { optional: true }),
    userAgent: Header(),
    sessionId: Cookie({ optional: true }),
    limit: Query(z.coerce.number().int()),
    mode: Query(z.enum(["fast", "slow"]), { optional: true }),
    me: user,
    sess: session,
    big: streamed,
    auth: withParams,
    admin: Security(user, { scopes: ["admin"] }),
    bearer: httpBearer({ autoError: false }),
    token: bearerFromSubprotocol(),
  },
}, async (ws, args) => {
  expectExact<typeof args.itemId, number>(true);
  expectExact<typeof args.q, string | undefined>(true);
  expectExact<typeof args.n, number>(true);
  expectExact<typeof args.tags, number[]>(true);
  expectExact<typeof args.key, string | undefined>(true);
  expectExact<typeof args.userAgent, string>(true);
  expectExact<typeof args.sessionId, string | undefined>(true);
  expectExact<typeof args.limit, number>(true);
  expectExact<typeof args.mode, "fast" | "slow" | undefined>(true);
  expectExact<typeof args.me, { id: number; name: string }>(true);
  expectExact<typeof args.sess, { sid: string }>(true);
  expectExact<typeof args.big, bigint>(true);
  expectExact<typeof args.auth, { token: string | undefined; page: number }>(
    true,
  );
  expectExact<typeof args.admin, { id: number; name: string }>(true);
  expectExact<typeof args.token, string>(true);
  expectType<string | undefined>(args.bearer?.credentials);

  // @ts-expect-error an optional value may be undefined
  const q: string = args.q;
  // @ts-expect-error no such argument was declared
  args.nope;
  // @ts-expect-error a number is not a string
  args.itemId.toUpperCase();
  void q;
  await ws.accept();
});

// Without params, args is empty.
app.websocket("/plain", {}, (_ws, args) => {
  expectExact<typeof args, Record<never, never>>(true);
  // @ts-expect-error nothing was declared
  args.anything;
});

app.get(
  "/http/{id}",
  { params: { id: Path(), scopes: SecurityScopes() } },
  (_request, { id, scopes }) => {
    expectExact<typeof id, string>(true);
    expectExact<typeof scopes, string[]>(true);
    return id;
  },
);

// Misuse the compiler catches (type-checked, never run: Depends("user")
// would also throw at runtime).
function compileTimeOnly(): void {
  // @ts-expect-error a default must have the converter's type
  Query(int, { default: "1" });
  // @ts-expect-error Depends takes a function or params and a function
  Depends("user");
  // @ts-expect-error the args are typed from the params: n is a number
  Depends({ n: Query(int) }, ({ n }: { n: string }) => n);
}
void compileTimeOnly;

app.websocket("/typed", { params: { n: Query(int) } }, (_ws, { n }) => {
  // @ts-expect-error n is a number
  n.at(0);
});

Deno.test("types_test declarations also work at runtime", async () => {
  const tiny = new App();
  tiny.get("/t/{id}", {
    params: { id: Path(int), q: Query({ optional: true }) },
  }, (_req, args) => args);
  const response = await new TestClient(tiny).get("/t/5");
  assert.deepEqual(await response.json(), { id: 5 });
  assert.equal(app.routes.length, 4);
});
