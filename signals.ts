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
   * How long handlers get to finish after their sockets were closed. The
   * default fits, with the lifespan's own cleanup, in the 5 s Deno Deploy
   * leaves between SIGINT and SIGKILL.
   *
   * @default {4000}
   */
  timeoutMs?: number;
  /** Runs after `app.shutdown()`: close what would keep the process alive (a `BroadcastChannel`, a Redis client). @default {nothing} */
  afterShutdown?: () => void | Promise<void>;
}

const DEFAULT_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * Shuts `app` down on SIGINT or SIGTERM: `app.shutdown()` closes every
 * socket with 1001 and waits for handlers, dependency cleanup and the
 * lifespan's end; then `afterShutdown` runs, and the signal is raised again
 * so that the process ends the way it would have without this. Errors of
 * either step are logged with `console.error`.
 *
 * Under `deno serve --parallel` every isolate runs this and gets the
 * signal; `Deno.exit()` in one would cut the others off mid-shutdown. So
 * each isolate, once done, removes its listeners and raises the signal
 * again: the process ends when no isolate is listening any more.
 *
 * @param app The app to shut down.
 * @param options Signals, close code and reason, deadline, a last step.
 * @returns A function that removes the listeners (for tests).
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
  let started = false;
  const remove = listenForSignals(
    options.signals ?? DEFAULT_SIGNALS,
    (signal) => {
      if (started) return; // another isolate re-raised it: already on it
      started = true;
      shutDown(app, options).finally(() => {
        remove();
        raiseSignal(signal);
      });
    },
  );
  return remove;
}

async function shutDown(
  app: App,
  options: ShutdownOnSignalsOptions,
): Promise<void> {
  try {
    await app.shutdown({
      code: options.code ?? 1001,
      reason: options.reason ?? "server shutting down",
      timeoutMs: options.timeoutMs ?? 4000,
    });
  } catch (error) {
    console.error("Cannot shut down cleanly: app.shutdown() failed:", error);
  }
  try {
    await options.afterShutdown?.();
  } catch (error) {
    console.error("Cannot shut down cleanly: afterShutdown failed:", error);
  }
}
