// Cookie header parsing after RFC 6265 §4.2.1 / §5.4, as browsers send it:
// pairs separated by ";", name and value split at the first "=" (values may
// contain "="), optional double quotes around a value. A pair without "=" or
// with an empty name is skipped; the first of two equal names wins, as
// RFC 6265 §5.4 orders the more specific cookie first.

const QUOTED = /^"(.*)"$/s;

/** Parses a `Cookie` header into a name → value record. */
export function parseCookies(header: string | null): Record<string, string> {
  const cookies: Record<string, string> = {};
  if (header === null || header === "") return cookies;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    if (name === "" || Object.hasOwn(cookies, name)) continue;
    let value = pair.slice(eq + 1).trim();
    const quoted = QUOTED.exec(value);
    if (quoted !== null) value = quoted[1];
    // defineProperty: a cookie named "__proto__" must not become the prototype.
    Object.defineProperty(cookies, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return cookies;
}
