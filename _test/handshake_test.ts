// _handshake.ts: the checks of a handshake before any handler runs.
import assert from "node:assert/strict";
import { invalidHandshake, parseSubprotocols } from "../_handshake.ts";

Deno.test("parseSubprotocols() splits on commas with any spacing, in the client's order, frozen", () => {
  assert.deepEqual(parseSubprotocols(null), []);
  assert.deepEqual(parseSubprotocols("  "), []);
  const offered = parseSubprotocols(" bearer ,t0k3n,  v2 ");
  assert.deepEqual(offered, ["bearer", "t0k3n", "v2"]);
  assert.ok(Object.isFrozen(offered));
  assert.ok(Object.isFrozen(parseSubprotocols(null)));
});

Deno.test("invalidHandshake() answers 426 for another version and 400 for a missing key or Connection: Upgrade", async () => {
  const valid = {
    connection: "keep-alive, Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  assert.equal(invalidHandshake(new Headers(valid)), null);
  const old = invalidHandshake(
    new Headers({ ...valid, "sec-websocket-version": "8" }),
  )!;
  assert.equal(old.status, 426);
  assert.equal(old.headers.get("sec-websocket-version"), "13");
  await old.body?.cancel();
  for (const missing of ["sec-websocket-key", "connection"] as const) {
    const headers = new Headers(valid);
    headers.delete(missing);
    const response = invalidHandshake(headers)!;
    assert.equal(response.status, 400, missing);
    await response.body?.cancel();
  }
});
