// Property tests with fast-check: random inputs, stated rules. Each test
// prints how many cases it ran.
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import {
  App,
  bool,
  float,
  int,
  list,
  Query,
  uuid,
  WebSocketDisconnect,
} from "../mod.ts";
import { TestClient } from "../testing.ts";
import { assertCloseFrame } from "../_close.ts";
import { parseCookies } from "../_cookies.ts";
import { packHeaders, unpackHeaders } from "../_headers.ts";

function run<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => void | Promise<void>,
  numRuns: number,
) {
  Deno.test(name, async () => {
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        cases++;
        await predicate(value);
      }),
      { numRuns },
    );
    console.log(`${cases} cases`);
  });
}

// ---- Path templates: a path built by urlPathFor() matches its route and
// gives back the values (converted), after going through URL parsing.

type Part =
  | { literal: string }
  | {
    name: string;
    kind: "str" | "int" | "float" | "uuid" | "path";
    value: unknown;
  };

const literal = fc.stringMatching(/^[a-z0-9._~-]{1,8}$/).filter((s) =>
  s !== "." && s !== ".."
);
const strValue = fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" })
  .filter((s) => !s.includes("/") && s !== "." && s !== "..");
const param = (name: string, last: boolean): fc.Arbitrary<Part> =>
  fc.oneof(
    strValue.map((value) => ({ name, kind: "str" as const, value })),
    fc.nat().map((value) => ({ name, kind: "int" as const, value })),
    fc.double({ min: 0, max: 1e6, noNaN: true })
      .filter((n) => !String(n).includes("e"))
      .map((value) => ({ name, kind: "float" as const, value })),
    fc.uuid().map((value) => ({ name, kind: "uuid" as const, value })),
    ...(last
      ? [
        fc.array(strValue, { maxLength: 3 }).map((segments) => ({
          name,
          kind: "path" as const,
          value: segments.join("/"),
        })),
      ]
      : []),
  );
const template = fc.integer({ min: 1, max: 4 }).chain((n) =>
  fc.tuple(
    ...Array.from({ length: n }, (_, i) =>
      fc.oneof(
        literal.map((text): Part => ({ literal: text })),
        param(`p${i}`, i === n - 1),
      )),
  )
);

run(
  "Property: urlPathFor() round-trips through the URL and the route",
  template,
  (parts) => {
    const path = "/" +
      parts.map((part) =>
        "literal" in part ? part.literal : `{${part.name}:${part.kind}}`
      ).join("/");
    const app = new App().get(path, { name: "r" }, () => "");
    const values = Object.fromEntries(
      parts.filter((part) => "name" in part).map((part) => {
        const p = part as Extract<Part, { name: string }>;
        return [p.name, p.value];
      }),
    );
    const built = app.urlPathFor("r", values);
    const pathname = new URL(built, "http://x").pathname; // what a request carries
    const found = app.resolve(pathname, "GET");
    assert.ok(found?.route !== undefined, `${path} did not match ${pathname}`);
    for (const part of parts) {
      if ("literal" in part) continue;
      const expected = part.kind === "uuid"
        ? String(part.value).toLowerCase()
        : part.value;
      assert.deepEqual(
        found.params![part.name],
        expected,
        `${part.name} in ${pathname}`,
      );
    }
  },
  300,
);

// ---- Parameters: any text gives a value or a validation error, never a
// crash (500 on HTTP, or anything but accept / 1008 on a WebSocket).

const anyText = fc.string({ maxLength: 20, unit: "binary" });

const paramsApp = new App({ logger: { error() {}, warn() {} } });
const declared = {
  i: Query(int, { optional: true }),
  f: Query(float, { optional: true }),
  b: Query(bool, { optional: true }),
  u: Query(uuid, { optional: true }),
  l: Query(list(int), { optional: true }),
  s: Query(z.coerce.number().int().min(0), { optional: true }),
};
paramsApp.get("/", { params: declared }, (_req, args) => args);
paramsApp.websocket("/ws", { params: declared }, async (ws) => {
  await ws.accept();
  await ws.close();
});
const paramsClient = new TestClient(paramsApp, {
  raiseServerExceptions: false,
});

run(
  "Property: any query text gives 200 or 422 over HTTP, never 500",
  fc.record({
    i: anyText,
    f: anyText,
    b: anyText,
    u: anyText,
    l: fc.array(anyText, { maxLength: 3 }),
    s: anyText,
  }),
  async (input) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(input)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        query.append(key, v);
      }
    }
    const response = await paramsClient.get(`/?${query}`);
    assert.ok(
      response.status === 200 || response.status === 422,
      `status ${response.status}`,
    );
    const body = await response.json();
    if (response.status === 422) {
      assert.ok(Array.isArray(body.detail) && body.detail.length > 0);
    }
  },
  200,
);

run(
  "Property: any query text is accepted or refused with 1008 on a WebSocket",
  fc.record({ i: anyText, u: anyText, s: anyText }),
  async (input) => {
    const query = new URLSearchParams(input);
    try {
      const ws = await paramsClient.websocketConnect(`/ws?${query}`);
      await ws.close();
    } catch (error) {
      assert.ok(error instanceof WebSocketDisconnect, String(error));
      assert.equal(error.code, 1008);
      assert.ok(new TextEncoder().encode(error.reason).length <= 123);
    }
  },
  200,
);

// ---- Cookies.

run(
  "Property: parseCookies() never throws and gives strings",
  fc.string({ unit: "binary" }),
  (header) => {
    const cookies = parseCookies(header);
    for (const value of Object.values(cookies)) {
      assert.equal(
        typeof value,
        "string",
      );
    }
  },
  1000,
);

const cookieName = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}$/);
const cookieValue = fc.stringMatching(
  /^[A-Za-z0-9!#$%&'()*+\-./:<=>?@[\]^_`{|}~]{0,12}$/,
);

run(
  "Property: well-formed cookies parse back to what was sent",
  fc.uniqueArray(fc.tuple(cookieName, cookieValue), {
    selector: ([name]) => name,
    maxLength: 6,
  }),
  (pairs) => {
    const header = pairs.map(([name, value]) => `${name}=${value}`).join("; ");
    assert.deepEqual(parseCookies(header), Object.fromEntries(pairs));
  },
  500,
);

// ---- Close frames: exactly RFC 6455's rules, written here independently.

function rfcAllows(code: number, reason: string): boolean {
  const codeOk = code === 1000 || code === 1001 || code === 1002 ||
    code === 1003 ||
    (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  return Number.isInteger(code) && codeOk &&
    new TextEncoder().encode(reason).length <= 123;
}

run(
  "Property: close() codes and reasons follow RFC 6455 exactly",
  fc.tuple(
    fc.oneof(
      fc.integer({ min: -1, max: 6000 }),
      fc.constantFrom(1004, 1005, 1006, 1015, 2999, 3000, 4999, 5000, 1.5),
    ),
    fc.string({ maxLength: 80, unit: "grapheme" }),
  ),
  ([code, reason]) => {
    let thrown: unknown = null;
    try {
      assertCloseFrame("close", code, reason);
    } catch (error) {
      thrown = error;
    }
    if (rfcAllows(code, reason)) {
      assert.equal(thrown, null, `${code} ${JSON.stringify(reason)}`);
    } else {assert.ok(
        thrown instanceof RangeError,
        `${code} ${JSON.stringify(reason)}`,
      );}
  },
  2000,
);

// ---- JSON modes: whatever goes in comes back, in text and binary mode.

const echoApp = new App();
echoApp.websocket("/json", async (ws) => {
  await ws.accept();
  while (true) {
    const mode = await ws.receiveText() as "text" | "binary";
    await ws.sendJson(await ws.receiveJson(mode), mode);
  }
});

run(
  "Property: sendJson()/receiveJson() round-trip any JSON value in both modes",
  fc.tuple(fc.jsonValue(), fc.constantFrom("text" as const, "binary" as const)),
  async ([value, mode]) => {
    await using ws = await new TestClient(echoApp).websocketConnect("/json");
    await ws.sendText(mode);
    await ws.sendJson(value, mode);
    // JSON itself turns -0 into 0: compare with what JSON can carry.
    assert.deepEqual(
      await ws.receiveJson(mode),
      JSON.parse(JSON.stringify(value)),
    );
  },
  300,
);

// ---- Headers packed for an open connection: unpacked, the same headers.

// Any HTTP token as a name, in any case; values of visible ASCII, Latin-1
// and inner spaces or tabs (Headers trims the ends), empty ones included.
const headerName = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
const headerValue = fc.array(
  fc.oneof(
    fc.integer({ min: 0x21, max: 0x7e }),
    fc.integer({ min: 0x80, max: 0xff }),
    fc.constantFrom(0x20, 0x09),
  ),
  { maxLength: 16 },
).map((codes) => String.fromCharCode(...codes));

run(
  "Property: unpackHeaders(packHeaders(h)) has the headers of h",
  // (Names from a short list too, so that repeated headers are common.)
  fc.array(
    fc.tuple(
      fc.oneof(headerName, fc.constantFrom("x-dup", "X-Dup", "cookie")),
      fc.oneof(headerValue, fc.constant("")),
    ),
    { maxLength: 12 },
  ),
  (pairs) => {
    const headers = new Headers();
    for (const [name, value] of pairs) headers.append(name, value);
    const unpacked = unpackHeaders(packHeaders(headers));
    assert.notEqual(unpacked, headers);
    assert.deepEqual([...unpacked], [...headers]);
  },
  2000,
);
