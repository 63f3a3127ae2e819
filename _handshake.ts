// The checks of a WebSocket handshake before any handler runs: what RFC
// 6455 requires of the request (§4.2.1), which origins may connect
// (cross-site WebSocket hijacking protection, shared by the app's default
// and per-route overrides), and the client's subprotocol offer.
import { HTTPException } from "./errors.ts";

/**
 * Which browser origins may open a WebSocket: `"*"` for any, a list of
 * origins (scheme, host and port, e.g. `"https://app.example"`), or a
 * predicate given the `Origin` header and the request.
 *
 * @example Allowing subdomains
 * ```ts
 * import { App, type OriginPolicy } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const policy: OriginPolicy = (origin) => new URL(origin).hostname.endsWith(".example.com");
 * const app = new App({ allowedOrigins: policy });
 * assert.ok(app instanceof App);
 * ```
 */
export type OriginPolicy =
  | "*"
  | readonly string[]
  | ((origin: string, request: Request) => boolean);

/**
 * Why `request` (with `headers`, its headers) may not open a WebSocket under
 * `policy`, or `null` if it may. The default protects against cross-site
 * WebSocket hijacking: browsers send cookies on cross-site upgrades and apply
 * no same-origin policy to them.
 */
export function originRefusal(
  policy: OriginPolicy | undefined,
  request: Request,
  headers: Headers,
): string | null {
  if (policy === "*") return null;
  const origin = headers.get("origin");
  if (origin === null) return null;
  if (typeof policy === "function") {
    return policy(origin, request) ? null : "refused by allowedOrigins";
  }
  if (policy !== undefined) {
    return policy.includes(origin.toLowerCase())
      ? null
      : "not in allowedOrigins";
  }
  let host: string | null = null;
  try {
    host = new URL(origin).host;
  } catch {
    // "null" (sandboxed documents, file:) and garbage are never same-origin.
  }
  const expected = headers.get("host")?.toLowerCase() ?? null;
  return host !== null && host === expected
    ? null
    : `cross-origin (Host "${expected ?? ""}")`;
}

export function normaliseOrigins(
  policy: OriginPolicy | undefined,
  where: string,
): OriginPolicy | undefined {
  if (policy === undefined || policy === "*" || typeof policy === "function") {
    return policy;
  }
  if (!Array.isArray(policy)) {
    throw new TypeError(
      `Cannot ${where}: allowedOrigins must be "*", a list of origins or a function`,
    );
  }
  return policy.map((origin) => {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new TypeError(
        `Cannot ${where}: allowed origin ${
          JSON.stringify(origin)
        } is not a URL origin like "https://app.example"`,
      );
    }
    if (
      parsed.origin === "null" ||
      parsed.origin !== origin.replace(/\/$/, "").toLowerCase()
    ) {
      throw new TypeError(
        `Cannot ${where}: allowed origin ${
          JSON.stringify(origin)
        } must be a bare origin (scheme, host and port), e.g. "${parsed.origin}"`,
      );
    }
    return parsed.origin;
  });
}

const CONNECTION_UPGRADE = /(?:^|[\s,])upgrade(?:$|[\s,])/i;

/**
 * Checks the parts of an upgrade request that RFC 6455 §4.2.1 requires, so a
 * malformed handshake is the client's error (400, or 426 for another
 * protocol version, §4.2.2) rather than an exception inside `accept()`.
 */
export function invalidHandshake(headers: Headers): Response | null {
  const version = headers.get("sec-websocket-version");
  if (version !== null && version.trim() !== "13") {
    return new HTTPException(426, "Unsupported WebSocket version: use 13", {
      "sec-websocket-version": "13",
    }).toResponse();
  }
  const key = headers.get("sec-websocket-key");
  const connection = headers.get("connection");
  if (
    version === null || key === null || key.trim() === "" ||
    connection === null || !CONNECTION_UPGRADE.test(connection)
  ) {
    return new HTTPException(
      400,
      "Invalid WebSocket handshake: Connection: Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version: 13 are required",
    ).toResponse();
  }
  return null;
}

const OFFERED_SEPARATOR = /\s*,\s*/;
// Shared by the connections whose client offered none (the lists are frozen,
// this one and the others alike).
const NO_SUBPROTOCOLS: string[] = Object.freeze([]) as unknown as string[];

/**
 * The subprotocols of a `Sec-WebSocket-Protocol` header, in the client's
 * order, as a frozen list (§4.1: a comma-separated list of tokens).
 */
export function parseSubprotocols(header: string | null): string[] {
  if (header === null) return NO_SUBPROTOCOLS;
  const offered = header.trim();
  if (offered === "") return NO_SUBPROTOCOLS;
  return Object.freeze(offered.split(OFFERED_SEPARATOR)) as string[];
}
