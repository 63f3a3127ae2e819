// The small private helpers: UTF-8 sizes, close-frame rules, cookies,
// request headers, and the error classes' own behaviour.
import assert from "node:assert/strict";
import {
  HTTPException,
  WebSocketException,
  WebSocketRequestValidationError,
} from "../mod.ts";
import { cutUtf8, utf8Exceeds, utf8Length } from "../_utf8.ts";
import { isSchema, issuePath } from "../_validate.ts";
import { assertCloseFrame, isSendableCloseCode } from "../_close.ts";
import { parseCookies } from "../_cookies.ts";
import { packHeaders, requestHeaders, unpackHeaders } from "../_headers.ts";

Deno.test("utf8Length() agrees with TextEncoder, lone surrogates included", () => {
  const samples = [
    "",
    "abc",
    "é",
    "€",
    "😀",
    "a😀b€é",
    "\ud800",
    "x\udc00y",
    "\ud83d",
  ];
  for (let i = 0; i < 200; i++) {
    let s = "";
    for (let j = 0; j < 20; j++) {
      s += String.fromCharCode(Math.floor(Math.random() * 0x10000));
    }
    samples.push(s);
  }
  for (const text of samples) {
    const expected = new TextEncoder().encode(text).length;
    assert.equal(utf8Length(text), expected, JSON.stringify(text));
    assert.equal(utf8Exceeds(text, expected), false);
    if (expected > 0) assert.equal(utf8Exceeds(text, expected - 1), true);
  }
});

Deno.test("isSendableCloseCode() follows RFC 6455 §7.4", () => {
  const allowed = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    4999,
  ];
  const refused = [
    0,
    999,
    1004,
    1005,
    1006,
    1015,
    1016,
    2999,
    5000,
    1000.5,
    NaN,
  ];
  for (const code of allowed) {
    assert.equal(isSendableCloseCode(code), true, String(code));
  }
  for (const code of refused) {
    assert.equal(isSendableCloseCode(code), false, String(code));
  }
});

Deno.test("assertCloseFrame() allows 123 UTF-8 bytes of reason and no more", () => {
  assertCloseFrame("close", 1000, "a".repeat(123));
  assertCloseFrame("close", 1000, "é".repeat(61) + "a"); // 123 bytes
  assert.throws(
    () => assertCloseFrame("close", 1000, "é".repeat(62)),
    RangeError,
    "longer than 123 UTF-8 bytes",
  );
  assert.throws(
    () => assertCloseFrame("close", 1000, "😀".repeat(31)),
    RangeError,
  );
  assert.throws(
    () => assertCloseFrame("close", 1000, 5 as unknown as string),
    TypeError,
    "must be a string",
  );
});

Deno.test("parseCookies() follows RFC 6265 and skips bad pairs", () => {
  assert.deepEqual(parseCookies(null), {});
  assert.deepEqual(
    parseCookies(
      'a=1; b="quoted value"; c=x=y; bad; =novalue; a=2;  d = spaced ',
    ),
    {
      a: "1",
      b: "quoted value",
      c: "x=y",
      d: "spaced",
    },
  );
  const tricky = parseCookies("__proto__=polluted; constructor=x");
  assert.equal(Object.getPrototypeOf(tricky), Object.prototype);
  assert.equal(tricky["__proto__" as keyof typeof tricky], "polluted");
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("WebSocketRequestValidationError cuts its reason to 123 bytes on a character boundary", () => {
  const error = new WebSocketRequestValidationError([
    { loc: ["query", "naïve"], msg: "é".repeat(100), type: "value_error" },
    { loc: ["path", "id"], msg: "bad", type: "int_parsing" },
  ]);
  assert.equal(error.code, 1008);
  const bytes = new TextEncoder().encode(error.reason).length;
  assert.ok(bytes <= 123, `${bytes} bytes`);
  assert.ok(error.reason.startsWith("query.naïve: éé"));
  assert.ok(error.reason.endsWith("…"));
  assert.ok(!error.reason.includes("\ufffd"));
  assert.match(error.message, /\(\+1 more\)$/);
});

Deno.test("HTTPException takes only error statuses and renders JSON", async () => {
  assert.throws(
    () => new HTTPException(200),
    RangeError,
    "status 200 is not an error status",
  );
  const response = new HTTPException(403, { why: "nope" }, { "x-a": "b" })
    .toResponse();
  assert.equal(response.status, 403);
  assert.equal(response.headers.get("x-a"), "b");
  assert.deepEqual(await response.json(), { detail: { why: "nope" } });
});

Deno.test("WebSocketException keeps its code and reason", () => {
  const error = new WebSocketException(4001, "go away");
  assert.equal(error.code, 4001);
  assert.equal(error.reason, "go away");
  assert.equal(error.message, "4001: go away");
  assert.equal(error.name, "WebSocketException");
});

Deno.test("requestHeaders() gives the request's headers in an object of its own", () => {
  const request = new Request("http://localhost/ws", {
    headers: { upgrade: "websocket", "x-token": "t0k" },
  });
  for (const touched of [false, true]) {
    if (touched) request.headers.get("upgrade");
    const headers = requestHeaders(request);
    assert.notEqual(headers, request.headers);
    assert.deepEqual([...headers], [...request.headers]);
  }
});

Deno.test("requestHeaders() falls back to the request's own headers when a copy cannot read them", () => {
  // A Request whose getter works only on the object itself, as a runtime
  // keeping its state in private fields would.
  class Strict extends Request {
    #own = true;
    override get headers(): Headers {
      if (!(#own in this)) throw new TypeError("Illegal invocation");
      return super.headers;
    }
  }
  const request = new Strict("http://localhost/", { headers: { a: "1" } });
  assert.equal(requestHeaders(request), request.headers);
});

Deno.test("packHeaders() makes one string; unpackHeaders() a new Headers from it", () => {
  const headers = new Headers([["B", "2"], ["a", "1"], ["b", ""]]);
  const packed = packHeaders(headers);
  assert.equal(packed, "a\n1\nb\n2, ");
  assert.deepEqual([...unpackHeaders(packed)], [["a", "1"], ["b", "2, "]]);
  assert.deepEqual([...unpackHeaders(packHeaders(new Headers()))], []);
});

Deno.test("cutUtf8() cuts to a byte budget on a character boundary", () => {
  assert.equal(cutUtf8("hello", 5), "hello");
  assert.equal(cutUtf8("hello", 3), "hel");
  // "é" is 2 bytes, "😀" 4: never half a character.
  assert.equal(cutUtf8("aé", 2), "a");
  assert.equal(cutUtf8("a😀b", 4), "a");
  assert.equal(cutUtf8("a😀b", 5), "a😀");
  assert.ok(
    new TextEncoder().encode(cutUtf8("é".repeat(100), 123)).length <= 123,
  );
});

Deno.test("isSchema() takes Standard Schema objects and functions (arktype), not converters", () => {
  const validate = (value: unknown) => ({ value });
  assert.ok(isSchema({ "~standard": { version: 1, vendor: "x", validate } }));
  const callable = Object.assign(() => {}, {
    "~standard": { version: 1, vendor: "x", validate },
  });
  assert.ok(isSchema(callable));
  assert.ok(!isSchema({ "~standard": {} }));
  assert.ok(!isSchema({ type: "int", multiple: false, parse: String }));
  assert.ok(!isSchema(null));
});

Deno.test("issuePath() puts an issue's own path after the location, keys as strings", () => {
  assert.deepEqual(
    issuePath({ message: "bad", path: [0, { key: "text" }, Symbol.for("s")] }, [
      "data",
    ]),
    ["data", 0, "text", "Symbol(s)"],
  );
  assert.deepEqual(issuePath({ message: "bad" }, ["query", "q"]), [
    "query",
    "q",
  ]);
});
