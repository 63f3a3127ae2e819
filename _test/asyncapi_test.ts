// The AsyncAPI document and the /docs routes: the parser validates every
// document with zero errors (no network), each example has a golden file,
// and the parts built from routes are checked one by one.
// UPDATE_GOLDEN=1 deno test -A _test/asyncapi_test.ts rewrites the golden files.
import assert from "node:assert/strict";
import { Parser } from "@asyncapi/parser";
import { toJsonSchema } from "@valibot/to-json-schema";
import { z } from "zod";
import {
  apiKeyHeader,
  App,
  Cookie,
  Depends,
  Header,
  Query,
  Router,
  Security,
} from "../mod.ts";
import {
  asyncapi,
  type AsyncAPIDocument,
  type AsyncAPIOptions,
  docs,
  type JsonObject,
} from "../asyncapi.ts";
import { TestClient } from "../testing.ts";
import echo from "../examples/echo/main.ts";
import chat from "../examples/chat/main.ts";
import dependencies from "../examples/dependencies/main.ts";
import { protocolApp } from "./_protocol_app.ts";

const OPTIONS: AsyncAPIOptions = {
  info: { title: "Example", version: "1.0.0" },
  servers: { local: { host: "localhost:8000", protocol: "ws" } },
};

// valibot has no JSON Schema output of its own: its converter package.
const VALIBOT: AsyncAPIOptions = {
  ...OPTIONS,
  jsonSchema: (schema) =>
    schema["~standard"].vendor === "valibot"
      ? toJsonSchema(schema as Parameters<typeof toJsonSchema>[0]) as JsonObject
      : undefined,
};

const APPS: Record<string, () => { app: App; options: AsyncAPIOptions }> = {
  echo: () => ({ app: echo, options: OPTIONS }),
  chat: () => ({ app: chat, options: VALIBOT }),
  dependencies: () => ({ app: dependencies, options: OPTIONS }),
  protocol: () => ({ app: protocolApp(), options: VALIBOT }),
};

async function errorsOf(doc: AsyncAPIDocument) {
  const { diagnostics } = await new Parser().parse(JSON.stringify(doc));
  // Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
  return diagnostics.filter((d) => d.severity <= 1).map((d) =>
    `${d.path.join("/")}: ${d.message}`
  );
}

for (const [name, make] of Object.entries(APPS)) {
  Deno.test(`asyncapi() of ${name}: the parser finds no error or warning`, async () => {
    const { app, options } = make();
    assert.deepEqual(await errorsOf(asyncapi(app, options)), []);
  });

  Deno.test(`asyncapi() of ${name} matches its golden file`, async () => {
    const { app, options } = make();
    const file = new URL(`./fixtures/asyncapi/${name}.json`, import.meta.url);
    const actual = JSON.stringify(asyncapi(app, options), null, 2) + "\n";
    if (Deno.env.get("UPDATE_GOLDEN") === "1") {
      await Deno.writeTextFile(file, actual);
    }
    assert.equal(actual, await Deno.readTextFile(file));
  });
}

Deno.test("asyncapi() gives a channel per route, with its address and path parameters", () => {
  const doc = asyncapi(protocolApp(), VALIBOT);
  assert.deepEqual(Object.keys(doc.channels), [
    "room",
    "ticker",
    "admin",
    "browser",
    "raw",
  ]);
  assert.equal(doc.channels.room.address, "/rooms/{room}");
  assert.equal(doc.channels.ticker.address, "/ticker/{market}");
  assert.deepEqual(doc.channels.ticker.parameters, {
    market: { description: "An integer (int)." },
  });
  // A raw URLPattern's named groups are parameters too.
  assert.equal(doc.channels.raw.address, "/raw/{id}");
  assert.equal(doc.channels.room.summary, "A chat room");
  assert.deepEqual(doc.channels.room.tags, [{ name: "chat" }]);
  assert.deepEqual(doc.operations.room_receive_say.tags, [{ name: "chat" }]);
});

Deno.test("asyncapi() leaves out routes with includeInSchema: false, and HTTP routes", () => {
  const doc = asyncapi(protocolApp(), VALIBOT);
  const addresses = Object.values(doc.channels).map((c) => c.address);
  assert.ok(!addresses.includes("/hidden"));
  assert.ok(!addresses.includes("/"));
});

Deno.test("asyncapi() puts Query, Header and Cookie params, dependencies' too, in bindings.ws", () => {
  const app = new App();
  const device = Depends(
    { device: Header({ name: "x-device" }), theme: Query({ optional: true }) },
    ({ device }) => device,
  );
  app.websocket("/ws", {
    name: "ws",
    params: {
      q: Query(z.string().max(3)),
      acceptLanguage: Header({ optional: true }),
      // A dependency of a dependency: its params count too.
      outer: Depends({ inner: device }, () => 1),
    },
    dependencies: [Depends({ sid: Query({ name: "sid" }) }, () => 0)],
  }, (ws) => ws.accept());
  app.websocket("/c", {
    name: "c",
    params: { session: Query({ optional: true }) },
  }, (ws) => ws.accept());
  const doc = asyncapi(app);
  assert.deepEqual(doc.channels.ws.bindings, {
    ws: {
      method: "GET",
      query: {
        type: "object",
        properties: {
          sid: { type: "string" },
          q: { type: "string", maxLength: 3 },
          theme: { type: "string" },
        },
        required: ["sid", "q"],
      },
      headers: {
        type: "object",
        properties: {
          "accept-language": { type: "string" },
          "x-device": { type: "string" },
        },
        required: ["x-device"],
      },
      bindingVersion: "0.1.0",
    },
  });
});

Deno.test("asyncapi() lists the cookies read under the cookie header", () => {
  const app = new App();
  app.websocket("/ws", {
    name: "ws",
    params: { session: Cookie(), theme: Cookie({ optional: true }) },
  }, (ws) => ws.accept());
  const doc = asyncapi(app);
  assert.deepEqual(
    (doc.channels.ws.bindings as { ws: Record<string, unknown> }).ws.headers,
    {
      type: "object",
      properties: {
        cookie: {
          type: "string",
          description: "Cookies read: session, theme (optional).",
        },
      },
      required: ["cookie"],
    },
  );
});

Deno.test("asyncapi() turns the credential helpers into security schemes on the operations", () => {
  const doc = asyncapi(protocolApp(), VALIBOT);
  assert.deepEqual(doc.components.securitySchemes.apiKey_query_token, {
    type: "httpApiKey",
    name: "token",
    in: "query",
    description: 'An API key in the query "token".',
  });
  assert.equal(doc.components.securitySchemes.httpBearer.type, "http");
  assert.equal(doc.components.securitySchemes.httpBearer.scheme, "bearer");
  assert.equal(
    doc.components.securitySchemes["apiKey_header_x-api-key"].in,
    "header",
  );
  assert.equal(
    doc.components.securitySchemes.apiKey_cookie_session.in,
    "cookie",
  );
  assert.equal(
    doc.components.securitySchemes.subprotocolBearer_bearer.name,
    "Sec-WebSocket-Protocol",
  );
  const refs = (id: string) =>
    (doc.operations[id].security as { $ref: string }[]).map((s) => s.$ref);
  assert.deepEqual(refs("room_receive_say"), [
    "#/components/securitySchemes/apiKey_query_token",
  ]);
  // The cookie comes from a dependency of the route.
  assert.deepEqual(refs("ticker_send_tick"), [
    "#/components/securitySchemes/apiKey_cookie_session",
    "#/components/securitySchemes/apiKey_header_x-api-key",
  ]);
  assert.deepEqual(refs("admin_receive"), [
    "#/components/securitySchemes/httpBearer",
  ]);
  assert.deepEqual(refs("browser_send"), [
    "#/components/securitySchemes/subprotocolBearer_bearer",
  ]);
});

Deno.test("asyncapi() documents a dependency of your own that declares its credential", () => {
  const app = new App();
  const signed = Depends(
    { signature: Query() },
    ({ signature }) => signature,
    { credential: { type: "apiKey", in: "query", name: "signature" } },
  );
  // Security() keeps the credential of the dependency it wraps.
  const admin = Security(apiKeyHeader("x-admin"), { scopes: ["admin"] });
  assert.deepEqual(admin.credential, {
    type: "apiKey",
    in: "header",
    name: "x-admin",
  });
  app.websocket(
    "/ws",
    { name: "ws", params: { signed, admin } },
    (ws) => ws.accept(),
  );
  const doc = asyncapi(app);
  assert.deepEqual(Object.keys(doc.components.securitySchemes), [
    "apiKey_query_signature",
    "apiKey_header_x-admin",
  ]);
  assert.equal(
    (doc.operations.ws_receive.security as unknown[]).length,
    2,
  );
});

Deno.test("asyncapi() keeps credentials apart whose names clean to the same key", () => {
  const app = new App();
  app.websocket("/ws", {
    name: "ws",
    params: { a: apiKeyHeader("x key"), b: apiKeyHeader("x_key") },
  }, (ws) => ws.accept());
  const doc = asyncapi(app);
  assert.deepEqual(
    Object.entries(doc.components.securitySchemes).map(([k, s]) => [k, s.name]),
    [["apiKey_header_x_key", "x key"], ["apiKey_header_x_key_2", "x_key"]],
  );
});

Deno.test("asyncapi() refuses a malformed credential descriptor with a TypeError", () => {
  const app = new App();
  app.websocket("/ws", {
    params: {
      key: Depends(function signed() {
        return 1;
      }, { credential: { type: "apiKey", in: "body" } as never }),
    },
  }, (ws) => ws.accept());
  assert.throws(() => asyncapi(app), {
    name: "TypeError",
    message:
      'Cannot build AsyncAPI document: the credential of dependency "signed" on route "/ws" is {"type":"apiKey","in":"body"}: expected { type: "apiKey", in: "query" | "header" | "cookie", name }, { type: "httpBearer" } or { type: "subprotocolBearer", protocol }',
  });
});

Deno.test("asyncapi() describes each message type in its wire envelope, from zod's own JSON Schema", () => {
  const doc = asyncapi(protocolApp(), VALIBOT);
  const messages = doc.channels.room.messages as Record<string, {
    name: string;
    payload: unknown;
  }>;
  assert.deepEqual(Object.keys(messages), [
    "say",
    "typing",
    "said",
    "error",
    "history_request",
    "history_reply",
  ]);
  assert.deepEqual(messages.say.payload, {
    type: "object",
    properties: {
      type: { const: "say" },
      data: { $ref: "#/components/schemas/room_say" },
    },
    required: ["type", "data"],
  });
  assert.deepEqual(doc.components.schemas.room_say, {
    type: "object",
    properties: { text: { type: "string", minLength: 1, maxLength: 500 } },
    required: ["text"],
  });
  assert.equal(doc.operations.room_receive_say.action, "receive");
  assert.equal(doc.operations.room_send_said.action, "send");
  // valibot, through the converter option.
  assert.deepEqual(doc.components.schemas.ticker_tick, {
    type: "object",
    properties: { symbol: { type: "string" }, price: { type: "number" } },
    required: ["symbol", "price"],
  });
});

Deno.test("asyncapi() gives a request a reply correlated on its id, and the error answer", () => {
  const doc = asyncapi(protocolApp(), VALIBOT);
  const operation = doc.operations.room_request_history;
  assert.equal(operation.action, "receive");
  assert.deepEqual(operation.reply, {
    channel: { $ref: "#/channels/room" },
    messages: [
      { $ref: "#/channels/room/messages/history_reply" },
      { $ref: "#/channels/room/messages/error" },
    ],
  });
  const messages = doc.channels.room.messages as Record<string, {
    correlationId: unknown;
    payload: { required: string[]; properties: Record<string, unknown> };
  }>;
  for (const key of ["history_request", "history_reply", "error"]) {
    assert.deepEqual(messages[key].correlationId, {
      description: "The request's id, echoed in its answer.",
      location: "$message.payload#/id",
    });
  }
  assert.deepEqual(messages.history_request.payload.required, [
    "type",
    "id",
    "data",
  ]);
  assert.deepEqual(doc.components.schemas.room_history_output, {
    type: "array",
    items: { type: "string" },
  });
});

Deno.test("asyncapi() says which payloads it could not describe, and why", () => {
  const doc = asyncapi(protocolApp()); // no valibot converter this time
  const undescribed = doc["x-wsapi-undescribed"];
  assert.deepEqual(
    undescribed.map((u) => `${u.channel} ${u.message ?? ""}`.trim()),
    [
      "ticker receives.subscribe",
      "ticker receives.note",
      "ticker sends.tick",
      "admin",
      "browser",
      "raw",
    ],
  );
  assert.match(
    undescribed[0].reason,
    /"valibot" validator offers no JSON Schema/,
  );
  assert.match(undescribed[0].reason, /pass a jsonSchema converter/);
  assert.match(undescribed[3].reason, /declares no protocol/);
  assert.match(
    String(doc.components.schemas.ticker_note.description),
    /^Not described: the "handmade" validator/,
  );
  // With the converter, only the hand-made validator stays undescribed.
  const converted = asyncapi(protocolApp(), VALIBOT)["x-wsapi-undescribed"];
  assert.deepEqual(converted.map((u) => u.message).filter(Boolean), [
    "receives.note",
  ]);
});

Deno.test("asyncapi() reports a schema its validator cannot express, with the reason", async () => {
  const app = new App();
  app.websocket("/ws", {
    name: "ws",
    protocol: {
      receives: { when: z.object({ at: z.date() }) },
      sends: {},
      requests: {},
    },
  }, (ws) => ws.accept());
  const doc = asyncapi(app);
  assert.equal(doc["x-wsapi-undescribed"].length, 1);
  assert.match(
    doc["x-wsapi-undescribed"][0].reason,
    /^the "zod" validator cannot express it as JSON Schema: /,
  );
  assert.deepEqual(await errorsOf(doc), []);
});

Deno.test("asyncapi() keeps a recursive schema's $refs resolvable inside the document", async () => {
  interface Node {
    name: string;
    children: Node[];
  }
  const node: z.ZodType<Node> = z.lazy(() =>
    z.object({ name: z.string(), children: z.array(node) })
  );
  const app = new App();
  app.websocket("/tree", {
    name: "tree",
    protocol: { receives: {}, sends: { tree: node }, requests: {} },
  }, (ws) => ws.accept());
  const doc = asyncapi(app);
  const text = JSON.stringify(doc.components.schemas.tree_tree);
  for (const [, ref] of text.matchAll(/"\$ref":"([^"]+)"/g)) {
    assert.ok(ref.startsWith("#/components/schemas/tree_tree"), ref);
  }
  assert.deepEqual(await errorsOf(doc), []);
});

Deno.test("asyncapi() names channels uniquely, from the route name or the path", () => {
  const app = new App();
  const router = new Router({ prefix: "/v1" });
  router.websocket("/items/{item_id}/ws", (ws) => ws.accept());
  app.include(router);
  app.websocket("/items/{item_id}/ws", (ws) => ws.accept());
  app.websocket("/x", { name: "not a key!" }, (ws) => ws.accept());
  const doc = asyncapi(app);
  assert.deepEqual(Object.keys(doc.channels), [
    "v1_items_item_id_ws",
    "items_item_id_ws",
    "x",
  ]);
  assert.equal(
    doc.channels.v1_items_item_id_ws.address,
    "/v1/items/{item_id}/ws",
  );
});

Deno.test("asyncapi() gives a URLPattern beyond named segments a null address", async () => {
  const app = new App();
  app.websocket(
    new URLPattern({ pathname: "/files/*" }),
    { name: "files" },
    (ws) => ws.accept(),
  );
  const doc = asyncapi(app);
  assert.equal(doc.channels.files.address, null);
  assert.equal(doc.channels.files.parameters, undefined);
  assert.deepEqual(await errorsOf(doc), []);
});

Deno.test("asyncapi() throws a TypeError on bad input", () => {
  assert.throws(
    () => asyncapi({} as App),
    {
      name: "TypeError",
      message:
        "Cannot build AsyncAPI document: expected an App or Router, got object",
    },
  );
  assert.throws(
    () => asyncapi(new App(), { info: { title: "x" } as never }),
    {
      name: "TypeError",
      message:
        "Cannot build AsyncAPI document: info needs a title and a version, both strings",
    },
  );
  assert.throws(
    () => asyncapi(new App(), { servers: { a: { host: "h" } as never } }),
    {
      name: "TypeError",
      message:
        /^Cannot build AsyncAPI document: server "a" needs a host and a protocol/,
    },
  );
  // A protocol holding something that is not a validator: the route refuses
  // it when registered; one changed after that, asyncapi() refuses.
  assert.throws(
    () =>
      new App().websocket("/ws", {
        protocol: { receives: { bad: {} as never }, sends: {}, requests: {} },
      }, (ws) => ws.accept()),
    { name: "TypeError", message: /option protocol is not a protocol/ },
  );
  const receives: Record<string, unknown> = { good: z.object({}) };
  const app = new App();
  app.websocket("/ws", {
    protocol: { receives, sends: {}, requests: {} } as never,
  }, (ws) => ws.accept());
  receives.bad = {};
  assert.throws(() => asyncapi(app), {
    name: "TypeError",
    message:
      /^Cannot build AsyncAPI document: protocol.receives.bad of route "\/ws" is not a Standard Schema validator: use zod/,
  });
});

Deno.test("docs() serves the document and a self-contained page", async () => {
  const app = protocolApp();
  docs(app, { ...VALIBOT, path: "/reference", specPath: "/spec.json" });
  const client = new TestClient(app);
  const spec = await client.get("/spec.json");
  assert.equal(spec.headers.get("content-type"), "application/json");
  assert.deepEqual(
    await spec.json(),
    JSON.parse(JSON.stringify(asyncapi(app, VALIBOT))),
  );
  const page = await client.get("/reference");
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  const html = await page.text();
  // Nothing loaded from elsewhere: no external script, style or image.
  assert.doesNotMatch(
    html,
    /<script[^>]+src=|<link|<img|@import|url\(["']?[a-z]/,
  );
  assert.doesNotMatch(html, /https?:\/\//);
  assert.match(html, /<script type="application\/json" id="asyncapi">/);
  assert.match(html, /href="\/spec.json"/);
});

Deno.test("docs() escapes the document so no string ends the script element", async () => {
  const app = new App();
  app.websocket("/ws", {
    name: "ws",
    summary: "</script><script>alert(1)</script>",
  }, (ws) => ws.accept());
  docs(app, { info: { title: "<b>T</b>", version: "1" } });
  const html = await (await new TestClient(app).get("/docs")).text();
  // The document, the HTTP routes and the script: three elements, no more.
  assert.equal(html.match(/<\/script>/g)?.length, 3);
  assert.match(html, /&#60;b&#62;T&#60;\/b&#62;/);
});

Deno.test("docs() lists routes registered after it", async () => {
  const app = new App();
  docs(app);
  const client = new TestClient(app);
  assert.deepEqual(
    (await (await client.get("/asyncapi.json")).json()).channels,
    {},
  );
  app.websocket("/later", { name: "later" }, (ws) => ws.accept());
  const spec = await (await client.get("/asyncapi.json")).json();
  assert.deepEqual(Object.keys(spec.channels), ["later"]);
});

Deno.test("docs() throws a TypeError on bad paths", () => {
  assert.throws(() => docs(new App(), { path: "docs" }), {
    name: "TypeError",
    message:
      'Cannot register docs: path must be a path starting with "/", got "docs"',
  });
  assert.throws(() => docs(new App(), { path: "/a", specPath: "/a" }), {
    name: "TypeError",
    message:
      'Cannot register docs: path and specPath are both "/a": give them different paths',
  });
});
