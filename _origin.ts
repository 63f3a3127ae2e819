// The origin policy of WebSocket upgrades (cross-site WebSocket hijacking
// protection), shared by the app's default and per-route overrides.
import type { OriginPolicy } from "./routing.ts";

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
