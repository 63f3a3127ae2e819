// Resolves a route's parameters and dependencies for one connection, and
// runs the dependencies' cleanup afterwards. FastAPI's rules: route-level
// dependencies first (app, include, router, route), then the declarations of
// `params` (dependencies before plain parameters); every validation error is
// collected; a dependency whose own parameters fail is not called, its
// siblings still are; values are cached per connection by function (and
// scopes); overrides are looked up at resolution time.
import {
  RequestValidationError,
  type ValidationIssue,
  WebSocketRequestValidationError,
} from "./errors.ts";
import { type Converter, Dependency, Param, type Params } from "./params.ts";
import type { HTTPConnection } from "./connection.ts";
import type { StandardSchemaV1Result } from "./_standard_schema.ts";
import { isSchema, pushIssues } from "./_validate.ts";
import { checkParamsShape } from "./_declarations.ts";

/** What `app.dependencyOverrides` holds. */
export type Overrides = Map<unknown, unknown>;

const MAX_DEPTH = 64;
const FAILED: unique symbol = Symbol("failed");
const EMPTY: readonly string[] = [];

/**
 * Checks, at registration, what can be checked without a request: no
 * dependency depends on itself, and every `Path()` names a template
 * parameter (`pathNames`, or `null` when unknown, for a raw URLPattern).
 */
export function checkDeclarations(
  params: Params | undefined,
  dependencies: readonly Dependency[],
  pathNames: readonly string[] | null,
  where: string,
): void {
  const visiting = new Set<Params>();
  const visit = (declared: Params, trail: string[]) => {
    checkParamsShape(declared, where);
    if (visiting.has(declared)) {
      throw new TypeError(
        `Cannot ${where}: dependency cycle through ${trail.join(" → ")}`,
      );
    }
    visiting.add(declared);
    for (const [key, value] of Object.entries(declared)) {
      if (value instanceof Dependency) {
        if (value.params !== undefined) {
          visit(value.params, [...trail, value.fn.name || key]);
        }
      } else if (value.source === "path" && pathNames !== null) {
        const name = value.name ?? key;
        if (!pathNames.includes(name)) {
          throw new TypeError(
            `Cannot ${where}: Path() parameter "${name}" is not in the path template (it has ${
              pathNames.length === 0
                ? "no parameters"
                : pathNames.map((n) => `"${n}"`).join(", ")
            })`,
          );
        }
      }
    }
    visiting.delete(declared);
  };
  for (const dependency of dependencies) {
    if (!(dependency instanceof Dependency)) {
      throw new TypeError(
        `Cannot ${where}: dependencies must be Depends() or Security() declarations`,
      );
    }
    if (dependency.params !== undefined) {
      visit(dependency.params, [dependency.fn.name || "dependency"]);
    }
  }
  if (params !== undefined) visit(params, ["params"]);
}

// camelCase → kebab-case: userAgent → user-agent, xAPIKey → x-api-key.
function kebab(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2").toLowerCase();
}

const HEADER_NAMES = new Map<string, string>();

// The header a camelCase key reads; the docs generator names it the same way.
export function headerName(key: string): string {
  let name = HEADER_NAMES.get(key);
  if (name === undefined) {
    name = kebab(key);
    HEADER_NAMES.set(key, name);
  }
  return name;
}

// The raw value(s) of a parameter, or undefined when absent.
function rawValue(
  conn: HTTPConnection,
  param: Param,
  key: string,
  multiple: boolean,
): string | string[] | undefined {
  switch (param.source) {
    case "query": {
      // A repeated key: all values for a list, else the last (Starlette's
      // multi-dict keeps the last).
      const values = conn.queryParams.getAll(param.name ?? key);
      if (values.length === 0) return undefined;
      return multiple ? values : values[values.length - 1];
    }
    case "path": {
      const value = conn.pathParams[param.name ?? key];
      return value === undefined ? undefined : String(value);
    }
    case "header": {
      const value = conn.headers.get(param.name ?? headerName(key));
      if (value === null) return undefined;
      // Repeated headers arrive joined with ", ".
      return multiple ? value.split(",").map((part) => part.trim()) : value;
    }
    case "cookie": {
      const cookies = conn.cookies;
      const name = param.name ?? key;
      return Object.hasOwn(cookies, name) ? cookies[name] : undefined;
    }
    default:
      return undefined;
  }
}

interface Cleanup {
  iterator: Iterator<unknown> | AsyncIterator<unknown>;
  name: string;
}

/** One connection's resolution: cache, cleanups, errors. */
export class Solver {
  readonly #conn: HTTPConnection;
  readonly #overrides: Overrides;
  readonly #cache = new Map<unknown, unknown>();
  readonly #cleanups: Cleanup[] = [];
  readonly #errors: ValidationIssue[] = [];

  constructor(conn: HTTPConnection, overrides: Overrides) {
    this.#conn = conn;
    this.#overrides = overrides;
  }

  /**
   * Runs `dependencies` for their effects, then resolves `params`. Throws
   * the validation error of the connection's kind if anything failed.
   */
  async solve(
    dependencies: readonly Dependency[],
    params: Params | undefined,
    isWebSocket: boolean,
  ): Promise<Record<string, unknown>> {
    for (const dependency of dependencies) {
      await this.#dependency(dependency, "dependency", EMPTY, 0);
    }
    const args = params === undefined
      ? {}
      : await this.#params(params, EMPTY, 0);
    if (this.#errors.length > 0) {
      throw isWebSocket
        ? new WebSocketRequestValidationError(this.#errors)
        : new RequestValidationError(this.#errors);
    }
    return args as Record<string, unknown>;
  }

  async #params(
    params: Params,
    scopes: readonly string[],
    depth: number,
  ): Promise<Record<string, unknown> | typeof FAILED> {
    const args: Record<string, unknown> = {};
    let failed = false;
    // Dependencies first, then plain parameters, as FastAPI orders them.
    for (const key in params) {
      const declared = params[key];
      if (!(declared instanceof Dependency)) continue;
      const value = await this.#dependency(declared, key, scopes, depth + 1);
      if (value === FAILED) failed = true;
      else args[key] = value;
    }
    for (const key in params) {
      const declared = params[key];
      if (!(declared instanceof Param)) continue;
      // Synchronous unless a schema validates asynchronously: no microtask
      // per plain parameter.
      let value = this.#param(declared, key, scopes);
      if (value instanceof Promise) value = await value;
      if (value === FAILED) failed = true;
      else args[key] = value;
    }
    return failed ? FAILED : args;
  }

  #param(
    param: Param,
    key: string,
    scopes: readonly string[],
  ): unknown {
    if (param.source === "scopes") return [...scopes];
    const decoder = param.decoder;
    const multiple = !isSchema(decoder) &&
      (decoder as Converter<unknown>).multiple;
    const raw = rawValue(this.#conn, param, key, multiple);
    const name = param.source === "header"
      ? param.name ?? headerName(key)
      : param.name ?? key;
    if (raw === undefined) {
      if (param.optional) return param.default;
      this.#errors.push({
        loc: [param.source, name],
        msg: "Field required",
        type: "missing",
        input: null,
      });
      return FAILED;
    }
    if (isSchema(decoder)) {
      const result = decoder["~standard"].validate(raw);
      return result instanceof Promise
        ? result.then((settled) =>
          this.#schemaResult(settled, param, name, raw)
        )
        : this.#schemaResult(result, param, name, raw);
    }
    try {
      return (decoder as Converter<unknown>).parse(raw);
    } catch (error) {
      this.#errors.push({
        loc: [param.source, name],
        msg: error instanceof Error ? error.message : String(error),
        type: `${(decoder as Converter<unknown>).type}_parsing`,
        input: raw,
      });
      return FAILED;
    }
  }

  #schemaResult(
    result: StandardSchemaV1Result<unknown>,
    param: Param,
    name: string,
    raw: unknown,
  ): unknown {
    if (result.issues === undefined) return result.value;
    pushIssues(this.#errors, result.issues, [param.source, name], raw);
    return FAILED;
  }

  async #dependency(
    declared: Dependency,
    key: string,
    outerScopes: readonly string[],
    depth: number,
  ): Promise<unknown> {
    if (depth > MAX_DEPTH) {
      throw new TypeError(
        `Cannot resolve dependency "${key}": nested more than ${MAX_DEPTH} deep: check dependencyOverrides for a cycle`,
      );
    }
    const scopes = declared.scopes.length === 0
      ? outerScopes
      : [...outerScopes, ...declared.scopes];
    // The cache key is the original function (as in FastAPI), plus scopes.
    const cacheKey = scopes.length === 0
      ? declared.fn
      : `${scopes.join(" ")}\u0000${this.#cacheId(declared.fn)}`;
    if (declared.useCache && this.#cache.has(cacheKey)) {
      return this.#cache.get(cacheKey);
    }
    const override = this.#overrides.size === 0
      ? undefined
      : this.#overrides.get(declared) ?? this.#overrides.get(declared.fn);
    let effective = declared;
    if (override instanceof Dependency) effective = override;
    else if (typeof override === "function") {
      effective = new Dependency(
        override as (...args: never[]) => unknown,
        undefined,
      );
    } else if (override !== undefined) {
      throw new TypeError(
        `Cannot resolve dependency "${key}": its override is not a function or Depends()`,
      );
    }
    let value: unknown;
    if (effective.params === undefined) {
      value = (effective.fn as (conn: HTTPConnection) => unknown)(this.#conn);
    } else {
      const args = await this.#params(effective.params, scopes, depth);
      if (args === FAILED) return FAILED;
      value =
        (effective.fn as (args: unknown, conn: HTTPConnection) => unknown)(
          args,
          this.#conn,
        );
    }
    value = await this.#settle(value, effective.fn.name || key);
    if (declared.useCache) this.#cache.set(cacheKey, value);
    return value;
  }

  #ids = new Map<unknown, number>();

  #cacheId(fn: unknown): number {
    let id = this.#ids.get(fn);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(fn, id);
    }
    return id;
  }

  // Awaits a result; a generator runs to its (single) yield and is kept for
  // cleanup.
  async #settle(value: unknown, name: string): Promise<unknown> {
    if (isGenerator(value)) {
      const step = await value.next();
      if (step.done) {
        throw new TypeError(
          `Dependency "${name}" returned without yielding: a generator dependency must yield exactly once`,
        );
      }
      this.#cleanups.push({ iterator: value, name });
      return step.value;
    }
    return await value;
  }

  /**
   * Runs the cleanups in reverse order. When the handler failed (`failed`),
   * its error is thrown into each generator at its `yield`, as FastAPI does,
   * so `catch` can roll back and `finally` runs; otherwise the generator
   * resumes after its `yield`. A cleanup failing with anything but that
   * error is reported.
   */
  async cleanup(
    error: unknown,
    failed: boolean,
    report: (error: unknown, name: string) => void,
  ): Promise<void> {
    for (let i = this.#cleanups.length - 1; i >= 0; i--) {
      const { iterator, name } = this.#cleanups[i];
      try {
        const step = failed && iterator.throw !== undefined
          ? await iterator.throw(error)
          : await iterator.next();
        if (!step.done) {
          await iterator.return?.(undefined);
          throw new TypeError(
            `Dependency "${name}" yielded more than once: a generator dependency must yield exactly once`,
          );
        }
      } catch (cleanupError) {
        if (!failed || cleanupError !== error) report(cleanupError, name);
      }
    }
    this.#cleanups.length = 0;
  }
}

function isGenerator(
  value: unknown,
): value is Generator<unknown> | AsyncGenerator<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as Generator).next === "function" &&
    typeof (value as Generator).throw === "function" &&
    (Symbol.iterator in value || Symbol.asyncIterator in value);
}
