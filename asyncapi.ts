/**
 * Docs from routes: an AsyncAPI 3.0 document built from an app's WebSocket
 * routes, and `/docs`, a self-contained page (no CDN: it works offline) that
 * lists channels, messages and schemas and has a console to try them.
 *
 * - One channel per WebSocket route: its address with the path parameters,
 *   `bindings.ws` with the handshake's query parameters and headers (from
 *   `Query`, `Header` and `Cookie` declarations, in dependencies too).
 * - Security schemes from the credential helpers (`apiKeyQuery`,
 *   `apiKeyHeader`, `apiKeyCookie`, `httpBearer`, `bearerFromSubprotocol`),
 *   attached to the route's operations.
 * - With a `protocol` route option: a message and an operation per message
 *   type (`receive` for what the client sends, `send` for what the server
 *   sends), and a `reply` for each request, correlated on its `id`. Payloads
 *   are the wire envelope, `{"type": T, "data": D}`, with a JSON Schema for
 *   `D` from the validator's own JSON Schema output.
 * - What cannot be described is listed under `x-wsapi-undescribed`, with the
 *   reason, and shown on `/docs`: a route without a protocol, or a validator
 *   that offers no JSON Schema.
 *
 * @example A document for a protocol route
 * ```ts
 * import { App, defineProtocol } from "@wsapi/wsapi";
 * import { asyncapi } from "@wsapi/wsapi/asyncapi";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const chat = defineProtocol({
 *   receives: { say: z.object({ text: z.string() }) },
 *   sends: { said: z.object({ from: z.string(), text: z.string() }) },
 * });
 * const app = new App();
 * app.websocket("/rooms/{room}", { name: "room", protocol: chat }, async (ws) => await ws.accept());
 * const doc = asyncapi(app, { info: { title: "Chat", version: "1.0.0" } });
 * assert.equal(doc.channels.room.address, "/rooms/{room}");
 * // An "error" message is what the server answers to an invalid message.
 * assert.deepEqual(Object.keys(doc.operations), ["room_receive_say", "room_send_said", "room_send_error"]);
 * ```
 *
 * @module
 */
import type { Router } from "./routing.ts";
import { HttpRoute, type Route, WebSocketRoute } from "./route.ts";
import type { CredentialScheme } from "./params.ts";
import type { Protocol } from "./protocol.ts";
import type { StandardSchemaV1 } from "./_standard_schema.ts";
import { compileTemplate } from "./_path_template.ts";
import { CONVERTERS } from "./_converters.ts";
import { isSchema } from "./_validate.ts";
import {
  describeSchema,
  type JsonObject,
  type JsonSchemaConverter,
  rebaseRefs,
  type SchemaDirection,
} from "./_json_schema.ts";
import { bindings, readHandshake } from "./_asyncapi_handshake.ts";
import { docsPage } from "./_docs_page.ts";

export type { JsonObject, JsonSchemaConverter, SchemaDirection };

/**
 * The `info` of an AsyncAPI document.
 *
 * @example Usage
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { asyncapi, type AsyncAPIInfo } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const info: AsyncAPIInfo = { title: "Chat", version: "1.0.0", description: "Rooms and messages" };
 * assert.deepEqual(asyncapi(new App(), { info }).info, info);
 * ```
 */
export interface AsyncAPIInfo {
  /** The API's title. */
  title: string;
  /** The API's version (not AsyncAPI's). */
  version: string;
  /** A description (CommonMark). @default {undefined} */
  description?: string;
}

/**
 * A server of an AsyncAPI document: where clients connect.
 *
 * @example Usage
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { asyncapi, type AsyncAPIServer } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const production: AsyncAPIServer = { host: "chat.example.com", protocol: "wss" };
 * const doc = asyncapi(new App(), { servers: { production } });
 * assert.deepEqual(doc.servers, { production });
 * ```
 */
export interface AsyncAPIServer {
  /** Host and port, e.g. `"localhost:8000"`. */
  host: string;
  /** `"ws"` or `"wss"`. */
  protocol: string;
  /** A path before every channel address. @default {undefined} */
  pathname?: string;
  /** A description. @default {undefined} */
  description?: string;
}

/**
 * Options of {@linkcode asyncapi}.
 *
 * @example Usage
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { asyncapi, type AsyncAPIOptions } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const options: AsyncAPIOptions = {
 *   info: { title: "Chat", version: "1.0.0" },
 *   servers: { local: { host: "localhost:8000", protocol: "ws" } },
 * };
 * assert.equal(asyncapi(new App(), options).info.title, "Chat");
 * ```
 */
export interface AsyncAPIOptions {
  /** Title and version. @default {{ title: "wsapi", version: "0.1.0" }} */
  info?: AsyncAPIInfo;
  /** Where clients connect, by name. @default {{}} */
  servers?: Record<string, AsyncAPIServer>;
  /**
   * A JSON Schema converter for validators that have no JSON Schema output
   * of their own, tried first; return `undefined` to fall back. E.g.
   * `(schema) => toJsonSchema(schema)` with valibot's
   * `npm:@valibot/to-json-schema`.
   *
   * @default {undefined}
   */
  jsonSchema?: JsonSchemaConverter;
}

/**
 * Something the document could not describe, and why: an entry of
 * `x-wsapi-undescribed`.
 *
 * @example A route without a protocol
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { asyncapi, type Undescribed } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App().websocket("/raw", { name: "raw" }, async (ws) => await ws.accept());
 * const [entry]: Undescribed[] = asyncapi(app)["x-wsapi-undescribed"];
 * assert.equal(entry.channel, "raw");
 * assert.match(entry.reason, /declares no protocol/);
 * ```
 */
export interface Undescribed {
  /** The channel (route). */
  channel: string;
  /** The message type, when it is one message's payload. */
  message?: string;
  /** Why. */
  reason: string;
}

/**
 * An AsyncAPI 3.0 document, as plain JSON.
 *
 * @example Serialising it
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { asyncapi, type AsyncAPIDocument } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const doc: AsyncAPIDocument = asyncapi(new App());
 * assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
 * assert.equal(doc.asyncapi, "3.0.0");
 * ```
 */
export interface AsyncAPIDocument {
  /** The AsyncAPI version: 3.0.0. */
  asyncapi: "3.0.0";
  /** Title and version. */
  info: AsyncAPIInfo;
  /** Servers, when given. */
  servers?: Record<string, JsonObject>;
  /** `application/json`: the protocol's wire format. */
  defaultContentType: string;
  /** One per WebSocket route. */
  channels: Record<string, JsonObject>;
  /** What the application receives and sends. */
  operations: Record<string, JsonObject>;
  /** Payload schemas and security schemes. */
  components: {
    schemas: Record<string, JsonObject>;
    securitySchemes: Record<string, JsonObject>;
  };
  /** What could not be described, with the reason. */
  "x-wsapi-undescribed": Undescribed[];
}

const KEY = /^[A-Za-z0-9_.-]+$/;
const ERROR_TYPE = "error";

function key(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(
    /^_+|_+$/g,
    "",
  );
  return cleaned === "" ? "root" : cleaned;
}

function unique(base: string, taken: { has(key: string): boolean }): string {
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}_${n}`)) n++;
  return `${base}_${n}`;
}

function credentialKey(credential: CredentialScheme): string {
  switch (credential.type) {
    case "apiKey":
      return key(`apiKey_${credential.in}_${credential.name}`);
    case "httpBearer":
      return "httpBearer";
    case "subprotocolBearer":
      return key(`subprotocolBearer_${credential.protocol}`);
  }
}

function securityScheme(credential: CredentialScheme): JsonObject {
  switch (credential.type) {
    case "apiKey":
      return {
        type: "httpApiKey",
        name: credential.name,
        in: credential.in,
        description: `An API key in the ${credential.in} "${credential.name}".`,
      };
    case "httpBearer":
      return {
        type: "http",
        scheme: "bearer",
        description:
          "A bearer token in `Authorization: Bearer <token>` (not settable by browsers).",
      };
    case "subprotocolBearer":
      // AsyncAPI has no scheme for it: it is a header, Sec-WebSocket-Protocol.
      return {
        type: "httpApiKey",
        name: "Sec-WebSocket-Protocol",
        in: "header",
        description:
          `A bearer token offered as a subprotocol after the marker "${credential.protocol}": \`new WebSocket(url, ["${credential.protocol}", token])\`. The server accepts "${credential.protocol}".`,
      };
  }
}

class Builder {
  readonly #options: AsyncAPIOptions;
  // The route being described, for error messages.
  #path = "";
  // Security scheme keys by credential (its JSON).
  readonly #schemeKeys = new Map<string, string>();
  readonly doc: AsyncAPIDocument;

  constructor(options: AsyncAPIOptions) {
    this.#options = options;
    this.doc = {
      asyncapi: "3.0.0",
      info: { ...(options.info ?? { title: "wsapi", version: "0.1.0" }) },
      ...(options.servers === undefined ? {} : {
        servers: Object.fromEntries(
          Object.entries(options.servers).map(([name, server]) => [
            name,
            { ...server },
          ]),
        ),
      }),
      defaultContentType: "application/json",
      channels: {},
      operations: {},
      components: { schemas: {}, securitySchemes: {} },
      "x-wsapi-undescribed": [],
    };
  }

  // The JSON Schema of one payload, stored under components.schemas.
  #payload(
    channel: string,
    name: string,
    schema: StandardSchemaV1,
    direction: SchemaDirection,
    where: string,
  ): JsonObject {
    if (!isSchema(schema)) {
      throw new TypeError(
        `Cannot build AsyncAPI document: protocol.${where} of route "${this.#path}" is not a Standard Schema validator: use zod, valibot, arktype or any Standard Schema v1 object`,
      );
    }
    const described = describeSchema(
      schema,
      direction,
      this.#options.jsonSchema,
    );
    const schemas = this.doc.components.schemas;
    const id = unique(key(name), { has: (k) => k in schemas });
    const ref = `#/components/schemas/${id}`;
    if (described.problem !== undefined) {
      this.doc["x-wsapi-undescribed"].push({
        channel,
        message: where,
        reason: described.problem,
      });
      schemas[id] = {
        description: `Not described: ${described.problem}.`,
        "x-wsapi-undescribed": true,
      };
    } else schemas[id] = rebaseRefs(described.schema, ref);
    return { $ref: ref };
  }

  route(route: WebSocketRoute): void {
    const options = route.options;
    if (options.includeInSchema === false) return;
    this.#path = route.path;
    const channels = this.doc.channels;
    const name = unique(
      route.name !== undefined && KEY.test(route.name)
        ? route.name
        : key(route.path.replace(/\{([^}:]+)(?::[^}]*)?\}/g, "$1")),
      { has: (k) => k in channels },
    );
    const channel: JsonObject = {};
    const { address, parameters } = this.#address(route.path);
    channel.address = address;
    if (options.summary !== undefined) channel.summary = options.summary;
    if (options.description !== undefined) {
      channel.description = options.description;
    }
    if (options.tags !== undefined && options.tags.length > 0) {
      channel.tags = options.tags.map((tag) => ({ name: tag }));
    }
    if (parameters !== undefined) channel.parameters = parameters;
    const found = readHandshake(
      route,
      this.#options.jsonSchema,
      (reason) =>
        this.doc["x-wsapi-undescribed"].push({ channel: name, reason }),
    );
    channel.bindings = bindings(found);
    const security: JsonObject[] = [];
    const schemes = this.doc.components.securitySchemes;
    for (const [signature, credential] of found.credentials) {
      // Names are cleaned for AsyncAPI keys: distinct credentials whose
      // cleaned names meet get distinct keys.
      let id = this.#schemeKeys.get(signature);
      if (id === undefined) {
        id = unique(credentialKey(credential), { has: (k) => k in schemes });
        this.#schemeKeys.set(signature, id);
        schemes[id] = securityScheme(credential);
      }
      security.push({ $ref: `#/components/securitySchemes/${id}` });
    }
    const messages: Record<string, JsonObject> = {};
    channel.messages = messages;
    channels[name] = channel;
    const ref = { $ref: `#/channels/${name}` };
    const operation = (
      id: string,
      action: "send" | "receive",
      message: string,
      extra: JsonObject = {},
    ): void => {
      const operations = this.doc.operations;
      operations[unique(key(id), { has: (k) => k in operations })] = {
        action,
        channel: ref,
        messages: [{ $ref: `#/channels/${name}/messages/${message}` }],
        ...(security.length === 0 ? {} : { security }),
        ...(channel.tags === undefined ? {} : { tags: channel.tags }),
        ...extra,
      };
    };
    const protocol: Protocol | undefined = options.protocol;
    if (protocol === undefined) {
      this.doc["x-wsapi-undescribed"].push({
        channel: name,
        reason:
          "the route declares no protocol: its frames (text or binary) are not described",
      });
      messages.frame = {
        name: "frame",
        title: "Any frame",
        summary: "A text or binary frame: this route declares no protocol.",
      };
      operation(`${name}_receive`, "receive", "frame");
      operation(`${name}_send`, "send", "frame");
      return;
    }
    const messageKey = (type: string, suffix = "") =>
      unique(key(type + suffix), { has: (k) => k in messages });
    const correlationId = {
      description: "The request's id, echoed in its answer.",
      location: "$message.payload#/id",
    };
    // A message of the protocol: the `{type, data}` envelope, with the `id`
    // of a request and of its reply, around the JSON Schema of `schema`:
    // protocol.receives.<type> (input), protocol.sends.<type> (output) or
    // protocol.requests.<type>.<direction>.
    const message = (
      type: string,
      title: string,
      summary: string,
      schema: StandardSchemaV1,
      direction: SchemaDirection,
      request: boolean,
    ): JsonObject => {
      const [schemaName, where] = request
        ? [`${name}_${type}_${direction}`, `requests.${type}.${direction}`]
        : [
          `${name}_${type}`,
          `${direction === "input" ? "receives" : "sends"}.${type}`,
        ];
      const data = this.#payload(name, schemaName, schema, direction, where);
      return {
        name: type,
        title,
        summary,
        ...(request ? { correlationId } : {}),
        payload: {
          type: "object",
          properties: {
            type: { const: type },
            ...(request ? { id: { type: ["string", "number"] } } : {}),
            data,
          },
          required: request ? ["type", "id", "data"] : ["type", "data"],
        },
      };
    };
    for (const [type, schema] of Object.entries(protocol.receives)) {
      const id = messageKey(type);
      messages[id] = message(
        type,
        type,
        "Client → server.",
        schema,
        "input",
        false,
      );
      operation(`${name}_receive_${type}`, "receive", id);
    }
    for (const [type, schema] of Object.entries(protocol.sends)) {
      const id = messageKey(
        type,
        type in protocol.receives ? "_sent" : "",
      );
      messages[id] = message(
        type,
        type,
        "Server → client.",
        schema,
        "output",
        false,
      );
      operation(`${name}_send_${type}`, "send", id);
    }
    const requests = Object.entries(protocol.requests);
    let errorKey: string | undefined;
    if (
      requests.length > 0 || Object.keys(protocol.receives).length > 0
    ) {
      errorKey = messageKey(ERROR_TYPE);
      messages[errorKey] = {
        name: ERROR_TYPE,
        title: ERROR_TYPE,
        summary:
          "Server → client: a failed request (with its id), or an invalid message.",
        correlationId,
        payload: {
          type: "object",
          properties: {
            type: { const: ERROR_TYPE },
            id: { type: ["string", "number"] },
            error: {
              type: "object",
              properties: {
                code: { type: ["string", "number"] },
                message: { type: "string" },
                issues: { type: "array" },
              },
              required: ["code", "message"],
            },
          },
          required: ["type", "error"],
        },
      };
    }
    for (const [type, request] of requests) {
      const id = messageKey(type, "_request");
      const reply = messageKey(type, "_reply");
      messages[id] = message(
        type,
        `${type} (request)`,
        "Client → server, answered once with the same id.",
        request.input,
        "input",
        true,
      );
      messages[reply] = message(
        type,
        `${type} (reply)`,
        "Server → client: the answer to a request.",
        request.output,
        "output",
        true,
      );
      operation(`${name}_request_${type}`, "receive", id, {
        reply: {
          channel: ref,
          messages: [
            { $ref: `#/channels/${name}/messages/${reply}` },
            { $ref: `#/channels/${name}/messages/${errorKey}` },
          ],
        },
      });
    }
    if (errorKey !== undefined) {
      operation(`${name}_send_error`, "send", errorKey);
    }
  }

  // A FastAPI template's address, `{name:int}` → `{name}`; a raw URLPattern
  // that is more than named segments has no address AsyncAPI can write.
  #address(
    path: string,
  ): { address: string | null; parameters?: Record<string, JsonObject> } {
    const outside = path.replace(/\{[^}]*\}/g, "");
    if (/[:*()?+\\]/.test(outside)) {
      const simple = path.replace(/:([A-Za-z_$][\w$]*)/g, "{$1}");
      if (/[:*()?+\\]/.test(simple.replace(/\{[^}]*\}/g, ""))) {
        return { address: null };
      }
      const names = [...simple.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      return {
        address: simple,
        parameters: names.length === 0 ? undefined : Object.fromEntries(
          names.map((n) => [n, { description: "A path segment." }]),
        ),
      };
    }
    const compiled = compileTemplate(path);
    if (compiled.params.length === 0) return { address: path };
    const kinds = new Map(
      Object.entries(CONVERTERS).map(([name, converter]) => [converter, name]),
    );
    return {
      address: path.replace(/\{([^}:]+)(?::[^}]*)?\}/g, "{$1}"),
      parameters: Object.fromEntries(compiled.params.map((param) => {
        const kind = kinds.get(param.converter) ?? "str";
        return [param.name, { description: PATH_KINDS[kind] ?? kind }];
      })),
    };
  }
}

const PATH_KINDS: Record<string, string> = {
  str: "A path segment.",
  int: "An integer (int).",
  float: "A number (float).",
  uuid: "A UUID (uuid).",
  path: "The rest of the path, slashes included (path).",
};

function routesOf(app: unknown, action: string): readonly Route[] {
  const routes = (app as { routes?: unknown } | null)?.routes;
  if (!Array.isArray(routes)) {
    throw new TypeError(
      `Cannot ${action}: expected an App or Router, got ${
        app === null ? "null" : typeof app
      }`,
    );
  }
  return routes;
}

function checkOptions(options: AsyncAPIOptions, action: string): void {
  const info = options.info;
  if (
    info !== undefined &&
    (typeof info?.title !== "string" || typeof info.version !== "string")
  ) {
    throw new TypeError(
      `Cannot ${action}: info needs a title and a version, both strings`,
    );
  }
  for (const [name, server] of Object.entries(options.servers ?? {})) {
    if (
      typeof server?.host !== "string" || typeof server.protocol !== "string"
    ) {
      throw new TypeError(
        `Cannot ${action}: server "${name}" needs a host and a protocol, e.g. { host: "localhost:8000", protocol: "ws" }`,
      );
    }
  }
  if (
    options.jsonSchema !== undefined && typeof options.jsonSchema !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: jsonSchema must be a function (schema, direction) => JSON Schema | undefined`,
    );
  }
}

/**
 * Builds the AsyncAPI 3.0 document of an app's WebSocket routes (see the
 * module doc for what it holds). Routes with `includeInSchema: false` are
 * left out; HTTP routes are not part of it. Message payloads are the wire
 * envelope `{"type", "data"}` (`"id"` on requests and their replies); a
 * message the client sends is described by its schema's input, one the
 * server sends by its output.
 *
 * @param app The app (or router) whose routes to describe.
 * @param options Title, version, servers, a JSON Schema converter.
 * @returns The document, plain JSON: `JSON.stringify` it to serve it.
 * @throws {TypeError} If `app` has no routes, the options are malformed, or
 * a protocol holds something that is not a Standard Schema validator.
 *
 * @example Security schemes and handshake parameters
 * ```ts
 * import { apiKeyQuery, App, Header, int, Query } from "@wsapi/wsapi";
 * import { asyncapi } from "@wsapi/wsapi/asyncapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/feed", {
 *   name: "feed",
 *   params: { key: apiKeyQuery("api_key"), since: Query(int, { optional: true }), userAgent: Header() },
 * }, async (ws) => await ws.accept());
 * const doc = asyncapi(app);
 * const ws = (doc.channels.feed.bindings as { ws: Record<string, unknown> }).ws;
 * assert.deepEqual(ws.query, { type: "object", properties: { since: { type: "integer" } } });
 * assert.deepEqual(ws.headers, {
 *   type: "object",
 *   properties: { "user-agent": { type: "string" } },
 *   required: ["user-agent"],
 * });
 * assert.equal(doc.components.securitySchemes.apiKey_query_api_key.in, "query");
 * // A route without a protocol is listed, and said to be undescribed.
 * assert.match(doc["x-wsapi-undescribed"][0].reason, /no protocol/);
 * ```
 */
export function asyncapi(
  app: Router,
  options: AsyncAPIOptions = {},
): AsyncAPIDocument {
  const routes = routesOf(app, "build AsyncAPI document");
  checkOptions(options, "build AsyncAPI document");
  const builder = new Builder(options);
  for (const route of routes) {
    if (route instanceof WebSocketRoute) builder.route(route);
  }
  return builder.doc;
}

/**
 * Options of {@linkcode docs}.
 *
 * @example Other paths
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { docs, type DocsOptions } from "@wsapi/wsapi/asyncapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * const options: DocsOptions = { path: "/reference", specPath: "/reference.json" };
 * docs(app, options);
 * assert.equal((await new TestClient(app).get("/reference.json")).status, 200);
 * ```
 */
export interface DocsOptions extends AsyncAPIOptions {
  /** Where the page is served. @default {"/docs"} */
  path?: string;
  /** Where the AsyncAPI document is served (JSON). @default {"/asyncapi.json"} */
  specPath?: string;
}

function checkPath(value: unknown, option: string): string {
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw new TypeError(
      `Cannot register docs: ${option} must be a path starting with "/", got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

/**
 * Serves the docs: `GET /asyncapi.json`, the AsyncAPI document, and
 * `GET /docs`, a self-contained HTML page (no CDN, works offline) that
 * lists every channel, message and schema (and the HTTP routes, which the
 * AsyncAPI document leaves out), says what could not be described, and has
 * a console: pick a route, fill its path and query
 * parameters, connect, send a message of the protocol from a form made from
 * its schema (or raw text on a route without a protocol), and read the
 * answers. The document is built on the first request and rebuilt when
 * routes change, so routes registered after `docs()` are listed too.
 *
 * @param app The app (or router) to document and to register the routes on.
 * @param options The document's options, and the two paths.
 * @throws {TypeError} If a path does not start with "/", both are the same,
 * or the document's options are malformed.
 *
 * @example Serving the docs
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { docs } from "@wsapi/wsapi/asyncapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", { name: "echo", summary: "Echoes text" }, async (ws) => await ws.accept());
 * docs(app, { info: { title: "Echo", version: "1.0.0" } });
 * const client = new TestClient(app);
 * const spec = await (await client.get("/asyncapi.json")).json();
 * assert.equal(spec.channels.echo.summary, "Echoes text");
 * const page = await client.get("/docs");
 * assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
 * assert.match(await page.text(), /Echoes text/);
 * ```
 */
export function docs(app: Router, options: DocsOptions = {}): void {
  routesOf(app, "register docs");
  checkOptions(options, "register docs");
  const path = checkPath(options.path ?? "/docs", "path");
  const specPath = checkPath(options.specPath ?? "/asyncapi.json", "specPath");
  if (path === specPath) {
    throw new TypeError(
      `Cannot register docs: path and specPath are both "${path}": give them different paths`,
    );
  }
  const { path: _path, specPath: _specPath, ...documentOptions } = options;
  // `app.routes` is a new array whenever a route is added anywhere: the
  // document is rebuilt only then.
  let cached: { routes: readonly Route[]; json: string; html: string } | null =
    null;
  const current = () => {
    const routes = app.routes;
    if (cached?.routes !== routes) {
      const doc = asyncapi(app, documentOptions);
      // The page lists the HTTP routes too (they are not AsyncAPI's).
      const http = routes.filter((route) => route instanceof HttpRoute).map(
        (route) => ({
          methods: [...route.methods],
          path: route.path,
          name: route.name,
        }),
      );
      cached = {
        routes,
        json: JSON.stringify(doc),
        html: docsPage(doc, specPath, http),
      };
    }
    return cached;
  };
  app.get(specPath, () =>
    new Response(current().json, {
      headers: { "content-type": "application/json" },
    }));
  app.get(path, () =>
    new Response(current().html, {
      headers: { "content-type": "text/html; charset=utf-8" },
    }));
}
