// The seam between an App and what serves it: Deno.serve through app.fetch,
// or the in-memory test client. Kept out of the public API: a WeakMap from
// each App to its dispatcher, reachable only by sibling modules.
import type { App } from "./app.ts";
import type { HTTPConnection, UpgradeFunction } from "./websocket.ts";

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
  /** Told the close code and reason of a refused handshake. */
  onRefuse?: (code: number, reason: string) => void;
  /** The state middleware set, handed to the handler's connection. */
  state?: Record<string, unknown>;
  /** Filled with a handshake's outcome when observers or the access log need it. */
  handshake?: HandshakeRecord;
  /** Given the promise of a WebSocket handler's whole run. */
  onConnection?: (done: Promise<void>) => void;
}

/** Serves one request. */
export type Dispatcher = (
  request: Request,
  context: DispatchContext,
) => Promise<Response>;

/** Each App's dispatcher, registered by its constructor. */
export const dispatchers: WeakMap<App, Dispatcher> = new WeakMap();

/** What one handshake left for the report (filled by the App). */
export interface HandshakeRecord {
  route: string | null;
  conn: HTTPConnection | null;
  close?: { code: number; reason: string };
  accepted: boolean;
  /** When the request came in (milliseconds since the epoch). */
  startTime: number;
}
