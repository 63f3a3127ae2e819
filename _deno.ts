// What the core knows of Deno's server, in one place: the upgrade function,
// the client address of Deno.serve's handler info, and how Deno tells that
// a client left. (How Deno hands over request headers at the upgrade is
// _headers.ts's, with the packed form it makes possible.)
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

/**
 * Calls `left` when Deno aborts `request.signal`: at once (`already` true)
 * if it has, else when it does. Deno also aborts the signal inside
 * upgradeWebSocket and, by its legacy behaviour, once a response was
 * delivered: only an abort before the handshake is being answered means the
 * client left, which `left` checks. (Listening makes Deno print a one-time
 * notice about that legacy behaviour; --unstable-no-legacy-abort ends both,
 * and this works either way.)
 */
export function watchClientLeaving(
  request: Request,
  left: (already: boolean) => void,
): void {
  const signal = request.signal;
  if (signal.aborted) {
    left(true);
    return;
  }
  signal.addEventListener("abort", () => left(false), { once: true });
}
