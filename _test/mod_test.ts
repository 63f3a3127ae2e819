// Pins the public export lists: an accidental export fails here.
import assert from "node:assert/strict";
import * as mod from "../mod.ts";
import * as testing from "../testing.ts";

Deno.test("mod.ts exports exactly the public API", () => {
  assert.deepEqual(Object.keys(mod).sort(), [
    "App",
    "CLOSE_CODE",
    "Cookie",
    "Dependency",
    "Depends",
    "HTTPConnection",
    "HTTPException",
    "Header",
    "HttpRoute",
    "NoMatchFound",
    "Param",
    "Path",
    "ProtocolError",
    "Query",
    "RequestValidationError",
    "Router",
    "Security",
    "SecurityScopes",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRequestValidationError",
    "WebSocketRoute",
    "WebSocketState",
    "apiKeyCookie",
    "apiKeyHeader",
    "apiKeyQuery",
    "bearerFromSubprotocol",
    "bool",
    "defineProtocol",
    "float",
    "httpBearer",
    "int",
    "list",
    "shutdownOnSignals",
    "str",
    "uuid",
  ]);
});

Deno.test("testing.ts exports exactly the test client API", () => {
  assert.deepEqual(Object.keys(testing).sort(), [
    "PairedSocket",
    "TestClient",
    "WebSocketDenialResponse",
    "WebSocketTestSession",
    "createSocketPair",
  ]);
});

Deno.test("broadcast.ts and broadcast_redis.ts export exactly their API", async () => {
  const broadcast = await import("../broadcast.ts");
  const redis = await import("../broadcast_redis.ts");
  assert.deepEqual(Object.keys(broadcast).sort(), [
    "Broadcast",
    "BroadcastChannelBackend",
    "MemoryBackend",
    "Presence",
  ]);
  assert.deepEqual(Object.keys(redis).sort(), [
    "RedisBackend",
    "RedisStreamBackend",
  ]);
});

Deno.test("asyncapi.ts exports exactly the docs API", async () => {
  const asyncapi = await import("../asyncapi.ts");
  assert.deepEqual(Object.keys(asyncapi).sort(), ["asyncapi", "docs"]);
});

Deno.test("client.ts exports exactly the typed client API, and imports nothing of the server", async () => {
  const client = await import("../client.ts");
  assert.deepEqual(Object.keys(client).sort(), [
    "ProtocolError",
    "WebSocketDisconnect",
    "connect",
  ]);
  // It must run in a browser: its module graph holds no server code.
  const graph = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "client.ts"],
    stdout: "piped",
  });
  const { stdout } = await graph.output();
  const modules: { specifier: string }[] =
    JSON.parse(new TextDecoder().decode(stdout)).modules;
  const files = modules.map((m) => m.specifier.split("/").pop()).sort();
  assert.deepEqual(files, [
    "_protocol_wire.ts",
    "_standard_schema.ts",
    "_validate.ts",
    "client.ts",
    "errors.ts",
    "protocol.ts",
  ]);
});
