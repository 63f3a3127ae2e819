// Ctrl-C (or a TERM from a process manager) for the examples: close every
// socket with 1001 and let handlers finish before the process ends.
import type { App } from "../mod.ts";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Shuts `app` down on SIGINT/SIGTERM, runs `afterShutdown` (close what
 * would keep the process alive), then lets the signal end the process.
 *
 * Under `deno serve --parallel` every isolate runs this and gets the signal;
 * `Deno.exit()` in one would cut the others off mid-shutdown. So each
 * isolate, once done, removes its listeners and raises the signal again: the
 * process ends when no isolate is listening any more.
 */
export function shutdownOnSignals(
  app: App,
  afterShutdown: () => Promise<void> = () => Promise.resolve(),
): void {
  let started = false;
  const listeners = SIGNALS.map((signal) => {
    const listener = () => {
      if (started) return; // another isolate re-raised it: already on it
      started = true;
      app.shutdown({ reason: "server shutting down", timeoutMs: 5000 })
        .then(afterShutdown)
        .finally(() => {
          for (const [name, fn] of listeners) {
            Deno.removeSignalListener(name, fn);
          }
          Deno.kill(Deno.pid, signal);
        });
    };
    return [signal, listener] as const;
  });
  for (const [signal, listener] of listeners) {
    Deno.addSignalListener(signal, listener);
  }
}
