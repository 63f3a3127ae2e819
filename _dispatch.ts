// The seam between an App and what serves it: Deno.serve through app.fetch,
// or the in-memory test client, which calls `app[DISPATCH](request, context)`
// (the symbol is in _symbols.ts; the method is not API).
import type { HTTPConnection } from "./connection.ts";
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
  /** The state middleware set, handed to the handler's connection. */
  state?: Record<string, unknown>;
  /** Filled with a handshake's outcome when observers need it. */
  handshake?: HandshakeRecord;
}

/** What one handshake left for the observers (filled by the App). */
export interface HandshakeRecord {
  route: string | null;
  conn: HTTPConnection | null;
  close?: { code: number; reason: string };
  accepted: boolean;
  /** When the request came in (milliseconds since the epoch). */
  startTime: number;
}
