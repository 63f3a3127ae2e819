/**
 * FastAPI-style parameters and dependencies: declare what a handler needs
 * (`Query`, `Path`, `Header`, `Cookie`, `Depends`, `Security`) and receive it,
 * typed, as the handler's second argument. Missing or invalid values end the
 * connection with 1008 (WebSocket) or 422 (HTTP) before the handler runs.
 *
 * @example A WebSocket route with parameters and a dependency
 * ```ts
 * import { App, CLOSE_CODE, Cookie, Depends, int, Path, Query, WebSocketException } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const cookieOrToken = Depends(
 *   { session: Cookie({ optional: true }), token: Query({ optional: true }) },
 *   ({ session, token }) => {
 *     if (session === undefined && token === undefined) {
 *       throw new WebSocketException(CLOSE_CODE.PolicyViolation);
 *     }
 *     return session ?? token!;
 *   },
 * );
 * const app = new App();
 * app.websocket("/items/{item_id}/ws", {
 *   params: { itemId: Path({ name: "item_id" }), q: Query(int, { optional: true }), auth: cookieOrToken },
 * }, async (ws, { itemId, q, auth }) => {
 *   await ws.accept();
 *   await ws.sendJson({ itemId, q, auth });
 * });
 * const client = new TestClient(app);
 * await using ws = await client.websocketConnect("/items/foo/ws?q=3&token=t0k");
 * assert.deepEqual(await ws.receiveJson(), { itemId: "foo", q: 3, auth: "t0k" });
 * const refused = await client.websocketConnect("/items/foo/ws").catch((e) => e);
 * assert.equal(refused.code, 1008);
 * ```
 *
 * @module
 */
import type { HTTPConnection } from "./connection.ts";
import type { StandardSchemaV1 } from "./_standard_schema.ts";
import { canonicalUuid, UUID_TEXT } from "./_converters.ts";
import { checkParamsShape } from "./_declarations.ts";
import { DECLARATION } from "./_symbols.ts";

/**
 * Turns the raw text of a parameter into a value, or throws a `TypeError`
 * whose message says what was expected. `list(x)` reads every value of a
 * repeated query key (or comma-separated header).
 *
 * @example A custom converter
 * ```ts
 * import { App, type Converter, Query } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const upper: Converter<string> = { type: "upper", multiple: false, parse: (raw) => String(raw).toUpperCase() };
 * const app = new App().get("/", { params: { q: Query(upper) } }, (_req, { q }) => q);
 * assert.equal(await (await new TestClient(app).get("/?q=hi")).text(), "HI");
 * ```
 */
export interface Converter<T> {
  /** What it parses, for error types (`"int"` gives `"int_parsing"`). */
  readonly type: string;
  /** Whether it takes every value (a list) rather than the last one. */
  readonly multiple: boolean;
  /**
   * Parses the raw value: a string, or every value when `multiple`.
   *
   * @throws {TypeError} If the text does not fit.
   */
  parse(raw: string | readonly string[]): T;
}

/** A converter or a Standard Schema validator (zod, valibot, arktype…). */
export type Decoder<T> = Converter<T> | StandardSchemaV1<unknown, T>;

function last(raw: string | readonly string[]): string {
  return typeof raw === "string" ? raw : raw[raw.length - 1];
}

/**
 * Text, as given.
 *
 * @example
 * ```ts
 * import { str } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(str.parse("a b"), "a b");
 * ```
 */
export const str: Converter<string> = {
  type: "string",
  multiple: false,
  parse: last,
};

const INTEGER = /^[+-]?\d+$/;

/**
 * A safe integer (`"-3"`, `"42"`; not `"1.5"`).
 *
 * @example
 * ```ts
 * import { int } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(int.parse("-3"), -3);
 * assert.throws(() => int.parse("1.5"), TypeError);
 * ```
 */
export const int: Converter<number> = {
  type: "int",
  multiple: false,
  parse(raw) {
    const text = last(raw).trim();
    const value = Number(text);
    if (!INTEGER.test(text) || !Number.isSafeInteger(value)) {
      throw new TypeError(
        "Input should be a valid integer, unable to parse string as an integer",
      );
    }
    return value;
  },
};

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A finite number (`"2"`, `"-0.5"`, `"1e3"`).
 *
 * @example
 * ```ts
 * import { float } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(float.parse("2.5"), 2.5);
 * assert.throws(() => float.parse("abc"), TypeError);
 * ```
 */
export const float: Converter<number> = {
  type: "float",
  multiple: false,
  parse(raw) {
    const text = last(raw).trim();
    const value = Number(text);
    if (!DECIMAL.test(text) || !Number.isFinite(value)) {
      throw new TypeError(
        "Input should be a valid number, unable to parse string as a number",
      );
    }
    return value;
  },
};

const TRUE = new Set(["true", "1", "yes", "on", "t", "y"]);
const FALSE = new Set(["false", "0", "no", "off", "f", "n"]);

/**
 * A boolean: true, 1, yes, on, t, y or false, 0, no, off, f, n (any case).
 *
 * @example
 * ```ts
 * import { bool } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(bool.parse("Yes"), true);
 * assert.equal(bool.parse("0"), false);
 * ```
 */
export const bool: Converter<boolean> = {
  type: "bool",
  multiple: false,
  parse(raw) {
    const text = last(raw).trim().toLowerCase();
    if (TRUE.has(text)) return true;
    if (FALSE.has(text)) return false;
    throw new TypeError(
      "Input should be a valid boolean, unable to interpret input",
    );
  },
};

/**
 * A UUID, with or without hyphens, normalised to lower-case hyphenated form.
 *
 * @example
 * ```ts
 * import { uuid } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.equal(uuid.parse("123E4567E89B12D3A456426614174000"), "123e4567-e89b-12d3-a456-426614174000");
 * ```
 */
export const uuid: Converter<string> = {
  type: "uuid",
  multiple: false,
  parse(raw) {
    const text = last(raw).trim();
    if (!UUID_TEXT.test(text)) {
      throw new TypeError("Input should be a valid UUID");
    }
    return canonicalUuid(text);
  },
};

/**
 * Every value of a repeated query key (`?tag=a&tag=b`), or of a
 * comma-separated header, each converted by `item`.
 *
 * @param item The converter of one value.
 * @returns A converter of the list.
 *
 * @example
 * ```ts
 * import { int, list } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(list(int).parse(["1", "2"]), [1, 2]);
 * ```
 */
export function list<T>(item: Converter<T>): Converter<T[]> {
  return {
    type: `list[${item.type}]`,
    multiple: true,
    parse(raw) {
      const values = typeof raw === "string" ? [raw] : raw;
      return values.map((value) => item.parse(value));
    },
  };
}

/** Where a parameter's value comes from. */
export type ParamSource = "query" | "path" | "header" | "cookie" | "scopes";

/**
 * A parameter declaration, made by `Query`, `Path`, `Header`, `Cookie` or
 * `SecurityScopes`; the handler receives a `T`.
 *
 * @example Inspecting a declaration
 * ```ts
 * import { int, Param, Query } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const page = Query(int, { default: 1 });
 * assert.ok(page instanceof Param);
 * assert.equal(page.source, "query");
 * assert.equal(page.default, 1);
 * ```
 */
export class Param<T = unknown> {
  /** Where the value comes from. */
  readonly source: ParamSource;
  /** The name in the source; defaults from the key it is declared under. */
  readonly name: string | undefined;
  /** Whether a missing value is allowed (`undefined`). */
  readonly optional: boolean;
  /** The value used when it is missing, if any. */
  readonly default: T | undefined;
  /** How the raw text becomes the value. */
  readonly decoder: Decoder<unknown>;

  /**
   * Made by the factories (`Query()` and so on).
   *
   * @param source Where the value comes from.
   * @param decoder How the raw text becomes the value.
   * @param options Name, optional, default.
   */
  constructor(
    source: ParamSource,
    decoder: Decoder<unknown>,
    options: ParamOptions<T> = {},
  ) {
    assertDecoder(decoder);
    if (
      options.name !== undefined &&
      (typeof options.name !== "string" || options.name === "")
    ) {
      throw new TypeError(
        `Cannot declare ${source} parameter: name must be a non-empty string`,
      );
    }
    this.source = source;
    this.decoder = decoder;
    this.name = options.name;
    this.default = options.default;
    this.optional = options.optional === true || "default" in options;
  }

  /** @ignore */
  get [DECLARATION](): true {
    return true;
  }
}

function assertDecoder(decoder: unknown): void {
  const ok = typeof decoder === "object" && decoder !== null &&
    ("~standard" in decoder ||
      typeof (decoder as Converter<unknown>).parse === "function");
  if (!ok) {
    throw new TypeError(
      "Cannot declare parameter: expected a converter (str, int, float, bool, uuid, list(x)) or a Standard Schema validator",
    );
  }
}

/** Options of a parameter declaration. */
export interface ParamOptions<T = unknown> {
  /** The name in the source (query key, header, cookie or template name). */
  name?: string;
  /** Allow it to be missing: the handler gets `undefined`. */
  optional?: boolean;
  /** The value when missing (implies optional; the type stays `T`). */
  default?: T;
}

/**
 * The typed factory behind `Query`, `Path`, `Header` and `Cookie`: without a
 * decoder the value is a string; `optional: true` adds `undefined`; a
 * `default` keeps the type.
 */
export interface ParamFactory {
  /** A required string. */
  (options?: { name?: string; optional?: false }): Param<string>;
  /** An optional string. */
  (options: { name?: string; optional: true }): Param<string | undefined>;
  /** A string with a default. */
  (options: { name?: string; default: string }): Param<string>;
  /** A required value decoded by a converter or schema. */
  <T>(
    decoder: Decoder<T>,
    options?: { name?: string; optional?: false },
  ): Param<T>;
  /** An optional decoded value. */
  <T>(
    decoder: Decoder<T>,
    options: { name?: string; optional: true },
  ): Param<T | undefined>;
  /** A decoded value with a default. */
  <T>(decoder: Decoder<T>, options: { name?: string; default: T }): Param<T>;
}

function factory(source: ParamSource): ParamFactory {
  return ((decoderOrOptions?: unknown, maybeOptions?: ParamOptions) => {
    const hasDecoder = typeof decoderOrOptions === "object" &&
      decoderOrOptions !== null &&
      ("~standard" in decoderOrOptions || "parse" in decoderOrOptions);
    return hasDecoder
      ? new Param(source, decoderOrOptions as Decoder<unknown>, maybeOptions)
      : new Param(source, str, decoderOrOptions as ParamOptions | undefined);
  }) as ParamFactory;
}

/**
 * A query parameter (`?q=1`), read by the key it is declared under unless
 * `name` is given. With `list(x)`, every value of a repeated key.
 *
 * @example
 * ```ts
 * import { App, int, list, Query } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/", {
 *   params: { q: Query(int, { optional: true }), tags: Query(list(int), { name: "tag", default: [] }) },
 * }, (_req, { q, tags }) => ({ q, tags }));
 * const response = await new TestClient(app).get("/?q=5&tag=1&tag=2");
 * assert.deepEqual(await response.json(), { q: 5, tags: [1, 2] });
 * ```
 */
export const Query: ParamFactory = factory("query");

/**
 * A path parameter of the route's template (`{item_id}`), read by the key
 * it is declared under unless `name` is given. Its name must appear in the
 * template: checked at registration.
 *
 * @example
 * ```ts
 * import { App, int, Path } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/items/{item_id}", {
 *   params: { itemId: Path(int, { name: "item_id" }) },
 * }, (_req, { itemId }) => ({ next: itemId + 1 }));
 * assert.deepEqual(await (await new TestClient(app).get("/items/41")).json(), { next: 42 });
 * ```
 */
export const Path: ParamFactory = factory("path");

/**
 * A request header; a camelCase key reads the kebab-case header
 * (`userAgent` → `user-agent`) unless `name` is given.
 *
 * @example
 * ```ts
 * import { App, Header } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/", { params: { xToken: Header() } }, (_req, { xToken }) => xToken);
 * const response = await new TestClient(app).get("/", { headers: { "x-token": "abc" } });
 * assert.equal(await response.text(), "abc");
 * ```
 */
export const Header: ParamFactory = factory("header");

/**
 * A cookie, read by the key it is declared under unless `name` is given.
 *
 * @example
 * ```ts
 * import { App, Cookie } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", { params: { session: Cookie({ optional: true }) } }, async (ws, { session }) => {
 *   await ws.accept();
 *   await ws.sendText(session ?? "anonymous");
 * });
 * await using ws = await new TestClient(app).websocketConnect("/ws", { cookies: { session: "s1" } });
 * assert.equal(await ws.receiveText(), "s1");
 * ```
 */
export const Cookie: ParamFactory = factory("cookie");

/**
 * The OAuth scopes required by the `Security()` declarations above the
 * dependency that declares this parameter, outermost first.
 *
 * @returns The declaration.
 *
 * @example A dependency that checks scopes
 * ```ts
 * import { App, Depends, HTTPException, Query, Security, SecurityScopes } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const user = Depends({ scopes: SecurityScopes(), token: Query() }, ({ scopes, token }) => {
 *   const granted = token.split(",");
 *   const missing = scopes.filter((scope) => !granted.includes(scope));
 *   if (missing.length > 0) throw new HTTPException(403, `missing scopes: ${missing}`);
 *   return { granted };
 * });
 * const app = new App().get("/admin", {
 *   params: { me: Security(user, { scopes: ["admin"] }) },
 * }, (_req, { me }) => me);
 * const client = new TestClient(app);
 * assert.equal((await client.get("/admin?token=admin,read")).status, 200);
 * assert.equal((await client.get("/admin?token=read")).status, 403);
 * ```
 */
export function SecurityScopes(): Param<string[]> {
  return new Param<string[]>("scopes", str);
}

/** What a dependency function may return: a value, a promise, or a generator that yields once. */
export type DependencyResult<T> =
  | T
  | Promise<T>
  | Generator<T, unknown, unknown>
  | AsyncGenerator<T, unknown, unknown>;

/** The value a dependency function's result resolves to. */
export type Resolved<R> = R extends AsyncGenerator<infer T, unknown, unknown>
  ? T
  : R extends Generator<infer T, unknown, unknown> ? T
  : Awaited<R>;

/** Options of {@linkcode Depends}. */
export interface DependsOptions {
  /** Reuse the value within one connection or request. @default {true} */
  useCache?: boolean;
  /**
   * What credential the dependency reads, for generated docs (AsyncAPI
   * security schemes). The credential helpers set it; set it on a
   * dependency of your own that checks a credential the same way.
   *
   * @default {undefined}
   */
  credential?: CredentialScheme;
}

/**
 * A credential a dependency reads, as docs generators describe it: an API
 * key in a query parameter, header or cookie, an `Authorization: Bearer`
 * token, or a bearer token offered as a WebSocket subprotocol.
 *
 * @example The descriptor of a credential helper
 * ```ts
 * import { apiKeyQuery, type CredentialScheme } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const expected: CredentialScheme = { type: "apiKey", in: "query", name: "token" };
 * assert.deepEqual(apiKeyQuery("token").credential, expected);
 * ```
 */
export type CredentialScheme =
  | {
    readonly type: "apiKey";
    readonly in: "query" | "header" | "cookie";
    readonly name: string;
  }
  | { readonly type: "httpBearer" }
  | { readonly type: "subprotocolBearer"; readonly protocol: string };

/** Options of {@linkcode Security}. */
export interface SecurityOptions extends DependsOptions {
  /** Scopes the dependency (and those below it) require. @default {[]} */
  scopes?: readonly string[];
}

/**
 * A dependency declaration, made by `Depends` or `Security`; the handler
 * receives a `T`.
 *
 * @example Inspecting a declaration
 * ```ts
 * import { Dependency, Depends } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * function now() {
 *   return Date.now();
 * }
 * const clock = Depends(now, { useCache: false });
 * assert.ok(clock instanceof Dependency);
 * assert.equal(clock.fn, now);
 * assert.equal(clock.useCache, false);
 * ```
 */
export class Dependency<T = unknown> {
  /** The function; called with `(conn)`, or `(args, conn)` when it has params. */
  readonly fn: (...args: never[]) => unknown;
  /** What it needs, resolved first; `undefined` for `Depends(fn)`. */
  readonly params: Params | undefined;
  /** Whether one connection reuses its value. */
  readonly useCache: boolean;
  /** OAuth scopes declared with `Security`. */
  readonly scopes: readonly string[];
  /** The credential it reads, for generated docs; set by the credential helpers. */
  readonly credential: CredentialScheme | undefined;
  /** Type-only: what the dependency resolves to. Never set at runtime. */
  declare readonly "~type"?: T;

  /**
   * Made by `Depends` and `Security`.
   *
   * @param fn The function.
   * @param params Its parameters, or `undefined`.
   * @param options Caching and scopes.
   */
  constructor(
    fn: (...args: never[]) => unknown,
    params: Params | undefined,
    options: SecurityOptions = {},
  ) {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot declare dependency: expected a function, got ${typeof fn}`,
      );
    }
    if (params !== undefined) checkParamsShape(params, "declare dependency");
    this.fn = fn;
    this.params = params;
    this.useCache = options.useCache ?? true;
    this.scopes = options.scopes ?? [];
    this.credential = options.credential;
  }

  /** @ignore */
  get [DECLARATION](): true {
    return true;
  }
}

/** A set of declarations: the `params` of a route or dependency. */
export type Params = Record<string, Param<unknown> | Dependency<unknown>>;

/** The value a declaration gives: `T` of a `Param<T>` or `Dependency<T>`. */
export type ValueOf<D> = D extends Param<infer T> ? T
  : D extends Dependency<infer T> ? T
  : never;

/** The arguments a handler or dependency receives for `P`. */
export type ArgsOf<P> = { [K in keyof P]: ValueOf<P[K]> };

/**
 * Declares a dependency: `fn(conn)` runs before the handler (once per
 * connection unless `useCache: false`) and its value is passed on. `conn` is
 * the `WebSocket`, or the `HTTPConnection` of an HTTP request. `fn` may be
 * sync or async, or a generator that yields once: the code after `yield`
 * runs after the handler, in reverse order. When the handler fails, its
 * error is thrown at the `yield` (as in FastAPI), so `catch` can roll back:
 * put cleanup in `finally` to run it in every case. A client disconnect is
 * a normal end, not an error: the generator simply resumes.
 *
 * @param fn The function.
 * @param options Caching.
 * @returns The declaration.
 *
 * @example A dependency with cleanup
 * ```ts
 * import { App, Depends } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const events: string[] = [];
 * async function* database() {
 *   events.push("open");
 *   try {
 *     yield { query: (q: string) => `result of ${q}` };
 *   } finally {
 *     events.push("close");
 *   }
 * }
 * const app = new App();
 * app.websocket("/ws", { params: { db: Depends(database) } }, async (ws, { db }) => {
 *   await ws.accept();
 *   await ws.sendText(db.query("select 1"));
 * });
 * const session = await new TestClient(app).websocketConnect("/ws");
 * assert.equal(await session.receiveText(), "result of select 1");
 * await session.close();
 * assert.deepEqual(events, ["open", "close"]);
 * ```
 */
export function Depends<R>(
  fn: (conn: HTTPConnection) => R,
  options?: DependsOptions,
): Dependency<Resolved<R>>;
/**
 * Declares a dependency with parameters of its own: they are resolved first
 * and `fn(args, conn)` receives them.
 *
 * @param params What `fn` needs.
 * @param fn The function.
 * @param options Caching.
 * @returns The declaration.
 */
export function Depends<P extends Params, R>(
  params: P,
  fn: (args: ArgsOf<P>, conn: HTTPConnection) => R,
  options?: DependsOptions,
): Dependency<Resolved<R>>;
export function Depends(
  fnOrParams: ((conn: HTTPConnection) => unknown) | Params,
  fnOrOptions?:
    | ((args: never, conn: HTTPConnection) => unknown)
    | DependsOptions,
  maybeOptions?: DependsOptions,
): Dependency<unknown> {
  if (typeof fnOrParams === "function") {
    return new Dependency(fnOrParams, undefined, fnOrOptions as DependsOptions);
  }
  return new Dependency(
    fnOrOptions as (...args: never[]) => unknown,
    fnOrParams,
    maybeOptions,
  );
}

/**
 * `Depends` with OAuth scopes: the scopes add up along the chain of
 * `Security` declarations and a dependency below reads them with
 * `SecurityScopes()`. A `Dependency` may be wrapped to add scopes to it.
 *
 * @param fnOrDependency The function, or a dependency to require scopes of.
 * @param options Scopes and caching.
 * @returns The declaration.
 *
 * @example See {@linkcode SecurityScopes}
 * ```ts
 * import { Depends, Security } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const user = Depends(() => "alice");
 * const admin = Security(user, { scopes: ["admin"] });
 * assert.deepEqual(admin.scopes, ["admin"]);
 * assert.equal(admin.fn, user.fn);
 * ```
 */
export function Security<T>(
  fnOrDependency: Dependency<T>,
  options?: SecurityOptions,
): Dependency<T>;
/**
 * `Depends(fn)` with OAuth scopes.
 *
 * @param fn The function.
 * @param options Scopes and caching.
 * @returns The declaration.
 */
export function Security<R>(
  fn: (conn: HTTPConnection) => R,
  options?: SecurityOptions,
): Dependency<Resolved<R>>;
/**
 * `Depends(params, fn)` with OAuth scopes.
 *
 * @param params What `fn` needs.
 * @param fn The function.
 * @param options Scopes and caching.
 * @returns The declaration.
 */
export function Security<P extends Params, R>(
  params: P,
  fn: (args: ArgsOf<P>, conn: HTTPConnection) => R,
  options?: SecurityOptions,
): Dependency<Resolved<R>>;
export function Security(
  first: Dependency<unknown> | ((conn: HTTPConnection) => unknown) | Params,
  second?: ((args: never, conn: HTTPConnection) => unknown) | SecurityOptions,
  third?: SecurityOptions,
): Dependency<unknown> {
  if (first instanceof Dependency) {
    const options = (second ?? {}) as SecurityOptions;
    return new Dependency(first.fn, first.params, {
      useCache: options.useCache ?? first.useCache,
      scopes: [...first.scopes, ...(options.scopes ?? [])],
      credential: options.credential ?? first.credential,
    });
  }
  if (typeof first === "function") {
    return new Dependency(first, undefined, second as SecurityOptions);
  }
  return new Dependency(
    second as (...args: never[]) => unknown,
    first,
    third,
  );
}
