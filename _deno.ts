// What the core knows of Deno's server, in one place: the upgrade function,
// the client address of Deno.serve's handler info, how Deno tells that a
// client left, and the process signals (for shutdownOnSignals). (How Deno hands over request headers at the upgrade is
// _headers.ts's, with the packed form it makes possible.)
import type { UpgradeFunction } from "./upgrade.ts";

/**
 * `Deno.upgradeWebSocket`, looked up once per App (the core reads no
 * `Deno.*` at call time); where Deno is absent, a function that says what
 * to pass instead.
 */
export function denoUpgrade(): UpgradeFunction {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  const upgradeWebSocket = deno?.upgradeWebSocket;
  if (upgradeWebSocket !== undefined) {
    return (request, options) => {
      const upgraded = upgradeWebSocket(request, options);
      spareSecondAbort(request);
      return upgraded;
    };
  }
  return () => {
    throw new Error(
      "Cannot upgrade: Deno.upgradeWebSocket is not available: pass the runtime's upgrade function as the App's `upgrade` option",
    );
  };
}

// Deno 2.9.6, by its legacy request.signal behaviour, aborts a served
// request's signal each time it closes the request, and it closes an
// upgraded one twice: inside upgradeWebSocket, then once the 101 is out. The
// first close records, in the request's private "signalCache" field, that
// the signal (never made) would now read as aborted (`false`); the second
// close takes that `false` for a signal, makes one to abort, and so builds
// two DOMExceptions with their stack traces: measured, about a sixth of the
// server's CPU time per connection, for a signal nobody holds. Setting the
// field back to "never made" leaves that second close nothing to do. Nothing
// can tell: the App hands the request to no one after the upgrade, and a
// read of the signal would still see it aborted at the second close. Only a
// field that reads `false` is touched, and only if the field is found (on
// another Deno, or a request Deno does not serve, this does nothing); a
// signal that was made (see watchClientLeaving) is aborted as before.
let signalCache: symbol | null | undefined;

function spareSecondAbort(request: Request): void {
  if (signalCache === undefined) {
    signalCache = Object.getOwnPropertySymbols(request)
      .find((key) => key.description === "signalCache") ?? null;
  }
  if (signalCache === null) return;
  const fields = request as unknown as Record<symbol, unknown>;
  if (fields[signalCache] === false) fields[signalCache] = undefined;
}

/** The peer's address from Deno's connection info (none for a Unix socket). */
export function clientOf(
  info: Deno.ServeHandlerInfo | undefined,
): { hostname: string; port: number } | null {
  const addr = info?.remoteAddr;
  if (addr === undefined || !("hostname" in addr)) return null;
  return { hostname: addr.hostname, port: addr.port };
}

// What wsapi prints, once per process, just before it first reads a served
// request's signal: Deno 2.9.6 then prints, as it answers that request, a
// notice about its legacy `request.signal` behaviour that reads like a bug in
// the user's code. The line says whose it is. (Not by replacing console.warn
// to hold Deno's notice back: that global is the user's, and so would be the
// warnings it swallowed.)
const EXPLANATION =
  "wsapi reads request.signal to notice a WebSocket client that leaves while a dependency is still running; Deno may follow with a one-time notice about its legacy request.signal behaviour: it is harmless here. Run with --unstable-no-legacy-abort to silence it (this also opts into Deno's new request.signal behaviour)";
const FLAG = "--unstable-no-legacy-abort";

let explained = false;

// Whether this process runs with --unstable-no-legacy-abort, when it can be
// told for certain: Deno.args holds only the script's arguments and no API
// says, so only the process's command line shows it, which Deno lets a
// program read with all permissions only, and only on Linux. (Set in
// deno.json's "unstable" list, it is not seen.) Asked first, so that reading
// never prompts.
function runsWithoutLegacyAbort(): boolean {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  const path = "/proc/self/cmdline";
  try {
    if (
      deno?.permissions.querySync({ name: "read", path }).state !== "granted"
    ) {
      return false;
    }
    const argv = deno.readTextFileSync(path).split("\0").slice(1, -1);
    // The flag counts before the script, not among the script's arguments.
    return argv.slice(0, argv.length - deno.args.length).includes(FLAG);
  } catch {
    return false;
  }
}

/**
 * Calls `left` when Deno aborts `request.signal`: at once (`already` true)
 * if it has, else when it does. Deno also aborts the signal inside
 * upgradeWebSocket and, by its legacy behaviour, once a response was
 * delivered: only an abort before the handshake is being answered means the
 * client left, which `left` checks. Reading the signal makes Deno print a
 * one-time notice about that legacy behaviour; before the first read in a
 * process, `logger` (the App's, for a request Deno serves) is told why, unless
 * the process surely runs with --unstable-no-legacy-abort, which ends both
 * (this works either way).
 */
export function watchClientLeaving(
  request: Request,
  left: (already: boolean) => void,
  logger?: { warn(...data: unknown[]): void },
): void {
  if (!explained && logger !== undefined) {
    explained = true;
    if (!runsWithoutLegacyAbort()) logger.warn(EXPLANATION);
  }
  const signal = request.signal;
  if (signal.aborted) {
    left(true);
    return;
  }
  signal.addEventListener("abort", () => left(false), { once: true });
}

/**
 * Calls `listener` on each of `signals`; returns a function that stops
 * listening (and may be called more than once).
 */
export function listenForSignals(
  signals: readonly Deno.Signal[],
  listener: (signal: Deno.Signal) => void,
): () => void {
  const listeners = signals.map((signal) => {
    const fn = () => listener(signal);
    Deno.addSignalListener(signal, fn);
    return [signal, fn] as const;
  });
  return () => {
    for (const [signal, fn] of listeners) {
      try {
        Deno.removeSignalListener(signal, fn);
      } catch {
        // already removed
      }
    }
  };
}

/**
 * Raises `signal` in this process again, so that it ends the way it would
 * have without a listener (once no isolate listens any more).
 */
export function raiseSignal(signal: Deno.Signal): void {
  Deno.kill(Deno.pid, signal);
}
