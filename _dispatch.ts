// The seam between an App and what serves it: Deno.serve through app.fetch,
// or the in-memory test client, which calls `app[DISPATCH](request, context)`
// (the symbol is in _symbols.ts; the method is not API).
import type { UpgradeFunction } from "./upgrade.ts";

/** How one request is served, beyond the request itself. */
export interface DispatchContext {
  /** Replaces the app's upgrade function (the test client's socket pair). */
  upgrade?: UpgradeFunction;
  /** The peer's address. */
  client: { hostname: string; port: number } | null;
  /** Deno's connection info, passed on to mounted handlers. */
  info?: Deno.ServeHandlerInfo;
  /** Receives unhandled handler errors instead of the log. */
  onError?: (error: unknown) => void;
  /**
   * Told the close code and reason of a refused handshake, and why when the
   * app refused it itself (`no route matches "/x"`).
   */
  onRefuse?: (code: number, reason: string, why?: string) => void;
  /** Given the promise of a WebSocket handler's whole run. */
  onConnection?: (done: Promise<void>) => void;
}
