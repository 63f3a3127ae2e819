/**
 * Graceful shutdown on SIGINT/SIGTERM, for `deno serve`, `Deno.serve` and
 * Deno Deploy.
 *
 * @module
 */
import type { App } from "./app.ts";
import { listenForSignals, raiseSignal } from "./_deno.ts";

/**
 * Options of {@linkcode shutdownOnSignals}.
 *
 * @example A shorter deadline and a cleanup step
 * ```ts
 * import type { ShutdownOnSignalsOptions } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const options: ShutdownOnSignalsOptions = { timeoutMs: 2000, afterShutdown: async () => {} };
 * assert.equal(options.timeoutMs, 2000);
 * ```
 */
export interface ShutdownOnSignalsOptions {
  /** The signals that start the shutdown. @default {["SIGINT", "SIGTERM"]} */
  signals?: readonly Deno.Signal[];
  /** The close code sent to every client. @default {1001} */
  code?: number;
  /** The close reason. @default {"server shutting down"} */
  reason?: string;
  /**
   * The deadline, in milliseconds from the signal, of the whole shutdown:
   * `app.shutdown()` (closing every socket, waiting for the handlers and
   * their dependency cleanup, then the lifespan's end) and `afterShutdown`.
   * The handlers get at most three quarters of it (those still running
   * then are counted in a warning), so that the lifespan's end and
   * `afterShutdown` keep the last quarter even when a handler hangs. What is
   * still running at the deadline is named in a `console.error` line, and
   * the process ends without waiting for it. The default fits in the 5 s
   * Deno Deploy leaves between SIGINT and SIGKILL.
   *
   * @default {4000}
   */
  timeoutMs?: number;
  /** Runs after `app.shutdown()`, within `timeoutMs`: close what would keep the process alive (a `BroadcastChannel`, a Redis client). @default {nothing} */
  afterShutdown?: () => void | Promise<void>;
}

const DEFAULT_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];
const DEFAULT_TIMEOUT_MS = 4000;
// The handlers' share of the deadline: the rest is kept for the lifespan's
// end and afterShutdown, which close what the process holds (a database
// pool, a Redis client) and so matter most.
const HANDLERS_SHARE = 0.75;

/**
 * Shuts `app` down on SIGINT or SIGTERM: `app.shutdown()` closes every
 * socket with 1001 and waits for handlers, dependency cleanup and the
 * lifespan's end; then `afterShutdown` runs, and the signal is raised again
 * so that the process ends the way it would have without this. Errors of
 * either step are logged with `console.error`.
 *
 * All of it has one deadline, `timeoutMs` (4 s by default, inside the 5 s
 * Deno Deploy leaves before SIGKILL). Handlers still running at three
 * quarters of it are counted in a warning and no longer waited for; a
 * lifespan's end or an `afterShutdown` still running at the deadline is
 * named in a `console.error` line (with any handler still running), and the
 * signal is raised again without waiting for it.
 *
 * Under `deno serve --parallel` every isolate runs this and gets the
 * signal; `Deno.exit()` in one would cut the others off mid-shutdown. So
 * each isolate, once done, removes its listeners and raises the signal
 * again: the process ends when no isolate is listening any more.
 *
 * @param app The app to shut down.
 * @param options Signals, close code and reason, deadline, a last step.
 * @returns A function that removes the listeners (for tests).
 * @throws {RangeError} If `timeoutMs` is not a positive number.
 *
 * @example In the module `deno serve` runs
 * ```ts
 * import { App, shutdownOnSignals } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * app.websocket("/ws", async (ws) => await ws.accept());
 * const stop = shutdownOnSignals(app);
 * assert.equal(typeof stop, "function");
 * stop(); // (a server keeps them until it exits)
 * ```
 */
export function shutdownOnSignals(
  app: App,
  options: ShutdownOnSignalsOptions = {},
): () => void {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new RangeError(
      `Cannot shut down on signals: timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`,
    );
  }
  let started = false;
  const remove = listenForSignals(
    options.signals ?? DEFAULT_SIGNALS,
    (signal) => {
      if (started) return; // another isolate re-raised it: already on it
      started = true;
      shutDown(app, options, timeoutMs).finally(() => {
        remove();
        raiseSignal(signal);
      });
    },
  );
  return remove;
}

// Resolves when the shutdown is done or its deadline has passed, whichever
// comes first; in the second case, says what is still running.
async function shutDown(
  app: App,
  options: ShutdownOnSignalsOptions,
  timeoutMs: number,
): Promise<void> {
  let step: "app.shutdown()" | "afterShutdown" | null = "app.shutdown()";
  const steps = (async () => {
    try {
      await app.shutdown({
        code: options.code ?? 1001,
        reason: options.reason ?? "server shutting down",
        timeoutMs: timeoutMs * HANDLERS_SHARE,
      });
    } catch (error) {
      console.error("Cannot shut down cleanly: app.shutdown() failed:", error);
    }
    step = "afterShutdown";
    try {
      await options.afterShutdown?.();
    } catch (error) {
      console.error("Cannot shut down cleanly: afterShutdown failed:", error);
    }
    step = null;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) =>
    timer = setTimeout(resolve, timeoutMs)
  );
  await Promise.race([steps, deadline]);
  clearTimeout(timer);
  if (step !== null) {
    console.error(
      `Cannot shut down cleanly: still running after ${timeoutMs} ms: ${
        stillRunning(app, step)
      }: the process ends without waiting for it`,
    );
  }
}

function stillRunning(
  app: App,
  step: "app.shutdown()" | "afterShutdown",
): string {
  const running: string[] = [];
  const connections = app.connections;
  if (connections > 0) {
    running.push(
      `${connections} WebSocket connection(s) (a handler or its dependency cleanup)`,
    );
  }
  // app.shutdown() stops waiting for handlers at three quarters of the
  // deadline: if it has not returned by the deadline, the lifespan's end has
  // not.
  running.push(
    step === "afterShutdown"
      ? "afterShutdown"
      : "the lifespan's end (its code after the yield)",
  );
  return running.join(", ");
}
