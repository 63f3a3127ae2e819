// What a WebSocket route's handshake reads, as the AsyncAPI document
// describes it: query parameters and headers (cookies under `cookie`) from
// the `Query`, `Header` and `Cookie` declarations of its params and
// dependencies, written as the channel's `bindings.ws`, and the credentials
// its dependencies declare (asyncapi.ts makes the security schemes).
import {
  type CredentialScheme,
  Dependency,
  Param,
  type Params,
} from "./params.ts";
import type { WebSocketRoute } from "./route.ts";
import { headerName } from "./_dependencies.ts";
import { isSchema } from "./_validate.ts";
import {
  describeSchema,
  type JsonObject,
  type JsonSchemaConverter,
} from "./_json_schema.ts";

// JSON Schema of a converter's value (the text on the wire is converted).
function converterSchema(type: string): JsonObject {
  const list = /^list\[(.*)\]$/.exec(type);
  if (list !== null) return { type: "array", items: converterSchema(list[1]) };
  switch (type) {
    case "string":
    case "str":
      return { type: "string" };
    case "int":
      return { type: "integer" };
    case "float":
      return { type: "number" };
    case "bool":
      return { type: "boolean" };
    case "uuid":
      return { type: "string", format: "uuid" };
    default:
      return { type: "string", description: `Converted by "${type}"` };
  }
}

function jsonValue(value: unknown): boolean {
  try {
    return JSON.stringify(value) !== undefined;
  } catch {
    return false;
  }
}

/** What a route's handshake reads. */
export interface Handshake {
  query: Map<string, { schema: JsonObject; required: boolean }>;
  headers: Map<string, { schema: JsonObject; required: boolean }>;
  cookies: Map<string, boolean>;
  credentials: Map<string, CredentialScheme>;
}

// A credential a dependency of the user's declares is checked here, where
// it is read: the helpers' are well-formed by construction.
function checkCredential(
  credential: CredentialScheme,
  path: string,
  dependency: Dependency,
): void {
  const c = credential as Partial<Record<string, unknown>>;
  const ok = (c.type === "apiKey" &&
    (c.in === "query" || c.in === "header" || c.in === "cookie") &&
    typeof c.name === "string" && c.name !== "") ||
    c.type === "httpBearer" ||
    (c.type === "subprotocolBearer" && typeof c.protocol === "string" &&
      c.protocol !== "");
  if (!ok) {
    throw new TypeError(
      `Cannot build AsyncAPI document: the credential of dependency "${
        dependency.fn.name || "anonymous"
      }" on route "${path}" is ${
        JSON.stringify(credential)
      }: expected { type: "apiKey", in: "query" | "header" | "cookie", name }, { type: "httpBearer" } or { type: "subprotocolBearer", protocol }`,
    );
  }
}
/**
 * What `route`'s handshake reads, from its params and dependencies (each
 * dependency once). `jsonSchema` is the document's converter; `undescribed`
 * hears of a parameter whose schema has no JSON Schema.
 */
export function readHandshake(
  route: WebSocketRoute,
  jsonSchema: JsonSchemaConverter | undefined,
  undescribed: (reason: string) => void,
): Handshake {
  const found: Handshake = {
    query: new Map(),
    headers: new Map(),
    cookies: new Map(),
    credentials: new Map(),
  };
  const seen = new Set<unknown>();
  const param = (name: string, declaration: Param): void => {
    if (declaration.source === "cookie") {
      const cookie = declaration.name ?? name;
      found.cookies.set(
        cookie,
        (found.cookies.get(cookie) ?? false) || !declaration.optional,
      );
      return;
    }
    if (declaration.source !== "query" && declaration.source !== "header") {
      return;
    }
    const target = declaration.source === "query" ? found.query : found.headers;
    const wireName = declaration.name ??
      (declaration.source === "header" ? headerName(name) : name);
    const decoder = declaration.decoder;
    let schema: JsonObject;
    if (isSchema(decoder)) {
      const described = describeSchema(decoder, "input", jsonSchema);
      if (described.problem !== undefined) {
        undescribed(
          `${declaration.source} parameter "${wireName}": ${described.problem}`,
        );
        schema = { description: `Not described: ${described.problem}.` };
      } else schema = described.schema;
    } else schema = converterSchema(decoder.type);
    if (declaration.default !== undefined && jsonValue(declaration.default)) {
      schema = { ...schema, default: declaration.default };
    }
    const before = target.get(wireName);
    target.set(wireName, {
      schema: before?.schema ?? schema,
      required: (before?.required ?? false) || !declaration.optional,
    });
  };
  const dependency = (declaration: Dependency): void => {
    if (seen.has(declaration)) return;
    seen.add(declaration);
    const credential = declaration.credential;
    if (credential !== undefined) {
      checkCredential(credential, route.path, declaration);
      found.credentials.set(JSON.stringify(credential), credential);
    }
    if (declaration.params !== undefined) params(declaration.params);
  };
  const params = (declarations: Params): void => {
    for (const [name, declaration] of Object.entries(declarations)) {
      if (declaration instanceof Param) param(name, declaration);
      else if (declaration instanceof Dependency) dependency(declaration);
    }
  };
  for (const declaration of route.dependencies) dependency(declaration);
  if (route.options.params !== undefined) params(route.options.params);
  return found;
}

/** `bindings.ws` of a channel: the handshake's query and headers. */
export function bindings(found: Handshake): JsonObject {
  const object = (
    entries: Map<string, { schema: JsonObject; required: boolean }>,
  ): JsonObject => {
    const required = [...entries].filter(([, e]) => e.required).map(([n]) => n);
    return {
      type: "object",
      properties: Object.fromEntries(
        [...entries].map(([name, entry]) => [name, entry.schema]),
      ),
      ...(required.length === 0 ? {} : { required }),
    };
  };
  const headers = new Map(found.headers);
  if (found.cookies.size > 0) {
    const names = [...found.cookies].map(([name, required]) =>
      `${name}${required ? "" : " (optional)"}`
    ).join(", ");
    headers.set("cookie", {
      schema: { type: "string", description: `Cookies read: ${names}.` },
      required: headers.get("cookie")?.required ??
        [...found.cookies.values()].some(Boolean),
    });
  }
  const ws: JsonObject = { method: "GET" };
  if (found.query.size > 0) ws.query = object(found.query);
  if (headers.size > 0) ws.headers = object(headers);
  ws.bindingVersion = "0.1.0";
  return { ws };
}
