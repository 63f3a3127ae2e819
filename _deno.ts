// What the core knows of Deno's server, in one place: the upgrade function
// and the client address of Deno.serve's handler info. (How Deno hands over
// request headers at the upgrade is _headers.ts's; how it aborts a
// request's signal, WebSocket's #watchClient.)
import type { UpgradeFunction } from "./upgrade.ts";

/**
 * `Deno.upgradeWebSocket`, looked up once per App (the core reads no
 * `Deno.*` at call time); where Deno is absent, a function that says what
 * to pass instead.
 */
export function denoUpgrade(): UpgradeFunction {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno?.upgradeWebSocket !== undefined) return deno.upgradeWebSocket;
  return () => {
    throw new Error(
      "Cannot upgrade: Deno.upgradeWebSocket is not available: pass the runtime's upgrade function as the App's `upgrade` option",
    );
  };
}

/** The peer's address from Deno's connection info (none for a Unix socket). */
export function clientOf(
  info: Deno.ServeHandlerInfo | undefined,
): { hostname: string; port: number } | null {
  const addr = info?.remoteAddr;
  if (addr === undefined || !("hostname" in addr)) return null;
  return { hostname: addr.hostname, port: addr.port };
}
