/**
 * The credential helpers: dependencies that read an API key (query, cookie
 * or header), an `Authorization: Bearer` token, or a bearer token offered
 * as a WebSocket subprotocol, and refuse the request when it is missing, as
 * FastAPI's `fastapi.security` does.
 *
 * @example A bearer token from the subprotocols a browser can send
 * ```ts
 * import { App, bearerFromSubprotocol } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", { params: { token: bearerFromSubprotocol() } }, async (ws, { token }) => {
 *   await ws.accept();
 *   await ws.sendText(token);
 * });
 * await using session = await new TestClient(app).websocketConnect("/ws", {
 *   subprotocols: ["bearer", "t0k3n"],
 * });
 * assert.equal(await session.receiveText(), "t0k3n");
 * ```
 *
 * @module
 */
import { HTTPException } from "./errors.ts";
import { type Dependency, Depends } from "./params.ts";
import { parseSubprotocols } from "./_handshake.ts";
import { PREFER_SUBPROTOCOL } from "./_symbols.ts";

/** Options of the credential helpers. */
export interface CredentialOptions {
  /**
   * Refuse a request without the credential (403, or 401 for bearer
   * tokens); with `false` the dependency gives `undefined` instead.
   *
   * @default {true}
   */
  autoError?: boolean;
}

const NOT_AUTHENTICATED = "Not authenticated";

function missing(
  autoError: boolean,
  status = 403,
  headers?: HeadersInit,
): undefined {
  if (autoError) throw new HTTPException(status, NOT_AUTHENTICATED, headers);
  return undefined;
}

/**
 * An API key from a query parameter: the value, or 403 when missing. The
 * way a browser WebSocket can send a key (it cannot set headers).
 *
 * @param name The query key.
 * @param options Whether a missing key refuses the request.
 * @returns The dependency.
 *
 * @example
 * ```ts
 * import { apiKeyQuery, App } from "@wsapi/wsapi";
 * import { TestClient, WebSocketDenialResponse } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", { params: { key: apiKeyQuery("api_key") } }, async (ws, { key }) => {
 *   await ws.accept();
 *   await ws.sendText(key);
 * });
 * const client = new TestClient(app);
 * await using ws = await client.websocketConnect("/ws?api_key=k1");
 * assert.equal(await ws.receiveText(), "k1");
 * const denied = await client.websocketConnect("/ws").catch((e) => e);
 * assert.ok(denied instanceof WebSocketDenialResponse);
 * assert.equal(denied.response.status, 403);
 * ```
 */
export function apiKeyQuery(name: string): Dependency<string>;
/**
 * An optional API key from a query parameter.
 *
 * @param name The query key.
 * @param options `{ autoError: false }`.
 * @returns The dependency.
 */
export function apiKeyQuery(
  name: string,
  options: { autoError: false },
): Dependency<string | undefined>;
export function apiKeyQuery(
  name: string,
  options: CredentialOptions = {},
): Dependency<string | undefined> {
  const autoError = options.autoError ?? true;
  return Depends(
    (conn) => conn.queryParams.get(name) || missing(autoError),
    { credential: { type: "apiKey", in: "query", name } },
  );
}

/**
 * An API key from a cookie: the value, or 403 when missing. Browsers send
 * cookies on WebSocket upgrades; keep the default origin policy on.
 *
 * @param name The cookie name.
 * @param options Whether a missing key refuses the request.
 * @returns The dependency.
 *
 * @example
 * ```ts
 * import { apiKeyCookie, App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/", { params: { key: apiKeyCookie("session") } }, (_req, { key }) => key);
 * const response = await new TestClient(app).get("/", { headers: { cookie: "session=s1" } });
 * assert.equal(await response.text(), "s1");
 * ```
 */
export function apiKeyCookie(name: string): Dependency<string>;
/**
 * An optional API key from a cookie.
 *
 * @param name The cookie name.
 * @param options `{ autoError: false }`.
 * @returns The dependency.
 */
export function apiKeyCookie(
  name: string,
  options: { autoError: false },
): Dependency<string | undefined>;
export function apiKeyCookie(
  name: string,
  options: CredentialOptions = {},
): Dependency<string | undefined> {
  const autoError = options.autoError ?? true;
  return Depends((conn) => conn.cookies[name] || missing(autoError), {
    credential: { type: "apiKey", in: "cookie", name },
  });
}

/**
 * An API key from a request header: the value, or 403 when missing.
 * Non-browser clients can send it on a WebSocket upgrade.
 *
 * @param name The header name.
 * @param options Whether a missing key refuses the request.
 * @returns The dependency.
 *
 * @example
 * ```ts
 * import { apiKeyHeader, App } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/", { params: { key: apiKeyHeader("x-api-key") } }, (_req, { key }) => key);
 * const response = await new TestClient(app).get("/", { headers: { "x-api-key": "k1" } });
 * assert.equal(await response.text(), "k1");
 * ```
 */
export function apiKeyHeader(name: string): Dependency<string>;
/**
 * An optional API key from a request header.
 *
 * @param name The header name.
 * @param options `{ autoError: false }`.
 * @returns The dependency.
 */
export function apiKeyHeader(
  name: string,
  options: { autoError: false },
): Dependency<string | undefined>;
export function apiKeyHeader(
  name: string,
  options: CredentialOptions = {},
): Dependency<string | undefined> {
  const autoError = options.autoError ?? true;
  return Depends((conn) => conn.headers.get(name) || missing(autoError), {
    credential: { type: "apiKey", in: "header", name },
  });
}

/** Credentials from an `Authorization` header. */
export interface HTTPAuthorizationCredentials {
  /** The scheme, e.g. `"Bearer"`. */
  scheme: string;
  /** What follows the scheme: the token. */
  credentials: string;
}

const BEARER = /^bearer\s+(\S+)\s*$/i;

/**
 * A bearer token from `Authorization: Bearer <token>`: the credentials, or
 * 401 with `WWW-Authenticate: Bearer` when missing or of another scheme.
 * Browsers cannot set this header on a WebSocket: use
 * {@linkcode bearerFromSubprotocol} there.
 *
 * @param options Whether a missing token refuses the request.
 * @returns The dependency.
 *
 * @example
 * ```ts
 * import { App, httpBearer } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App().get("/me", { params: { auth: httpBearer() } }, (_req, { auth }) => auth.credentials);
 * const client = new TestClient(app);
 * assert.equal(await (await client.get("/me", { headers: { authorization: "Bearer t0k" } })).text(), "t0k");
 * const anonymous = await client.get("/me");
 * assert.equal(anonymous.status, 401);
 * assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
 * ```
 */
export function httpBearer(): Dependency<HTTPAuthorizationCredentials>;
/**
 * An optional bearer token.
 *
 * @param options `{ autoError: false }`.
 * @returns The dependency.
 */
export function httpBearer(
  options: { autoError: false },
): Dependency<HTTPAuthorizationCredentials | undefined>;
export function httpBearer(
  options: CredentialOptions = {},
): Dependency<HTTPAuthorizationCredentials | undefined> {
  const autoError = options.autoError ?? true;
  return Depends((conn) => {
    const match = BEARER.exec(conn.headers.get("authorization") ?? "");
    if (match === null) {
      return missing(autoError, 401, { "www-authenticate": "Bearer" });
    }
    return { scheme: "Bearer", credentials: match[1] };
  }, { credential: { type: "httpBearer" } });
}

/** Options of {@linkcode bearerFromSubprotocol}. */
export interface BearerFromSubprotocolOptions extends CredentialOptions {
  /**
   * The marker the client offers before its token, and the subprotocol
   * `accept()` then chooses (never the token itself).
   *
   * @default {"bearer"}
   */
  protocol?: string;
}

/**
 * A bearer token a browser sends in `Sec-WebSocket-Protocol`, the one header
 * it can set on a WebSocket: `new WebSocket(url, ["bearer", token])`. Gives
 * the token (403 when missing) and makes `accept()` choose the marker
 * protocol, which a browser requires and which keeps the token out of the
 * response. A token must be a valid protocol token (e.g. base64url, a JWT).
 *
 * @param options The marker, and whether a missing token refuses.
 * @returns The dependency.
 *
 * @example
 * ```ts
 * import { App, bearerFromSubprotocol } from "@wsapi/wsapi";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", { params: { token: bearerFromSubprotocol() } }, async (ws, { token }) => {
 *   await ws.accept();
 *   await ws.sendText(`token ${token}`);
 * });
 * await using ws = await new TestClient(app).websocketConnect("/ws", { subprotocols: ["bearer", "eyJhbGci.x.y"] });
 * assert.equal(ws.acceptedSubprotocol, "bearer");
 * assert.equal(await ws.receiveText(), "token eyJhbGci.x.y");
 * ```
 */
export function bearerFromSubprotocol(): Dependency<string>;
/**
 * A bearer token from `Sec-WebSocket-Protocol`, with options.
 *
 * @param options The marker protocol.
 * @returns The dependency.
 */
export function bearerFromSubprotocol(
  options: { protocol?: string; autoError?: true },
): Dependency<string>;
/**
 * An optional bearer token from `Sec-WebSocket-Protocol`.
 *
 * @param options `{ autoError: false }` and the marker protocol.
 * @returns The dependency.
 */
export function bearerFromSubprotocol(
  options: { protocol?: string; autoError: false },
): Dependency<string | undefined>;
export function bearerFromSubprotocol(
  options: BearerFromSubprotocolOptions = {},
): Dependency<string | undefined> {
  const marker = options.protocol ?? "bearer";
  const autoError = options.autoError ?? true;
  return Depends((conn) => {
    const offered = parseSubprotocols(
      conn.headers.get("sec-websocket-protocol"),
    );
    const at = offered.indexOf(marker);
    const token = at === -1 ? undefined : offered[at + 1];
    if (token === undefined || token === "") return missing(autoError);
    // Only a WebSocket has subprotocols to prefer (duck-typed by the
    // symbol, so params.ts needs nothing of websocket.ts).
    (conn as { [PREFER_SUBPROTOCOL]?: (protocol: string) => void })
      [PREFER_SUBPROTOCOL]?.(marker);
    return token;
  }, { credential: { type: "subprotocolBearer", protocol: marker } });
}
