// One WebSocket connection's life once the handshake checks have passed,
// read top to bottom: dependencies → handler → dependency cleanup → what an
// error means for the client → close → wait for the socket to settle. The
// App hands each connection to serveSession() and keeps its promise.
import {
  HTTPException,
  WebSocketDisconnect,
  WebSocketException,
  WebSocketRequestValidationError,
} from "./errors.ts";
import type { HTTPConnection } from "./connection.ts";
import { WebSocketState } from "./messages.ts";
import type { WebSocketRoute } from "./route.ts";
import type { WebSocket } from "./websocket.ts";
import { type Overrides, Solver } from "./_dependencies.ts";
import { ACCEPTED, OPENING, SETTLED } from "./_symbols.ts";

const { CONNECTING, CONNECTED, DISCONNECTED } = WebSocketState;
const DONE: Promise<void> = Promise.resolve();
const NO_ARGS: Record<string, unknown> = Object.freeze({}) as Record<
  string,
  unknown
>;
const TEXT = { "content-type": "text/plain; charset=utf-8" };

/** What a session needs of the App serving it: one object per App. */
export interface SessionHost {
  /** The App's logger. */
  readonly logger: {
    error(...data: unknown[]): void;
    warn(...data: unknown[]): void;
    info?(...data: unknown[]): void;
  };
  /** `app.dependencyOverrides`. */
  readonly dependencyOverrides: Overrides;
  /** Every connection being served, and the promise of its whole run. */
  readonly running: Map<WebSocket, Promise<void>>;
  /** The close code and reason of a shutdown under way, or null. */
  shutdown: { code: number; reason: string } | null;
  /** The exception handler registered for the error's class, if any. */
  handlerFor(
    error: unknown,
  ): ((conn: HTTPConnection, error: unknown) => unknown) | undefined;
}

/**
 * Where a request's unhandled errors go: `onError` (the test client), else
 * the host's log. The App keeps one for the log; a connection keeps this,
 * not the whole dispatch context.
 */
export interface SessionContext {
  /** The App's side. */
  readonly host: SessionHost;
  /** Receives unhandled errors instead of the log. */
  readonly onError?: (error: unknown) => void;
}

/** How the handler's run ended. */
type Outcome =
  | { readonly kind: "returned" }
  | { readonly kind: "threw"; readonly error: unknown };

const RETURNED: Outcome = Object.freeze({ kind: "returned" });

function threw(error: unknown): Outcome {
  return { kind: "threw", error };
}

/**
 * Serves one connection: runs the route's dependencies and handler, then
 * finishes it. Resolves once the handler, its cleanup and the socket are all
 * done; never rejects (errors are reported through `context`).
 */
export function serveSession(
  context: SessionContext,
  route: WebSocketRoute,
  ws: WebSocket,
): Promise<void> {
  // (The clock is read only for a logger that logs each session's end.)
  const start = context.host.logger.info === undefined ? 0 : performance.now();
  if (route.dependencies.length > 0 || route.options.params !== undefined) {
    return serveWithDependencies(context, route, ws, start);
  }
  // A handler without dependencies is chained to rather than awaited, so
  // that no frame of the library's waits as long as the connection lives.
  let running: unknown;
  try {
    running = route.handler(ws, NO_ARGS);
  } catch (error) {
    return finish(context, route, ws, start, undefined, threw(error));
  }
  // (Promise.resolve returns a native promise as it is.) Bound functions
  // rather than closures: an idle connection then keeps no closure
  // context, about 100 bytes less.
  return Promise.resolve(running).then(
    handlerReturned.bind(context, route, ws, start),
    handlerThrew.bind(context, route, ws, start),
  );
}

function handlerReturned(
  this: SessionContext,
  route: WebSocketRoute,
  ws: WebSocket,
  start: number,
): Promise<void> {
  // (With a logger that logs session ends, every end goes through finish.)
  if (this.host.logger.info === undefined && finishedQuietly(this.host, ws)) {
    return DONE;
  }
  return finish(this, route, ws, start, undefined, RETURNED);
}

function handlerThrew(
  this: SessionContext,
  route: WebSocketRoute,
  ws: WebSocket,
  start: number,
  error: unknown,
): Promise<void> {
  return finish(this, route, ws, start, undefined, threw(error));
}

async function serveWithDependencies(
  context: SessionContext,
  route: WebSocketRoute,
  ws: WebSocket,
  start: number,
): Promise<void> {
  const solver = new Solver(ws, context.host.dependencyOverrides);
  let outcome = RETURNED;
  try {
    const args = await solver.solve(
      route.dependencies,
      route.options.params,
      true,
    );
    await route.handler(ws, args);
  } catch (error) {
    outcome = threw(error);
  }
  return finish(context, route, ws, start, solver, outcome);
}

// The usual end of a handler without dependencies that returned, finished
// without an async step: the socket has closed, nothing is left to do.
function finishedQuietly(host: SessionHost, ws: WebSocket): boolean {
  const state = ws.applicationState;
  if (!ws[SETTLED]() || (state !== CONNECTED && state !== DISCONNECTED)) {
    return false;
  }
  // With the socket closed, close() only records that the application is
  // done; it cannot fail.
  if (state === CONNECTED) void ws.close();
  host.running.delete(ws);
  return true;
}

async function finish(
  context: SessionContext,
  route: WebSocketRoute,
  ws: WebSocket,
  start: number,
  solver: Solver | undefined,
  outcome: Outcome,
): Promise<void> {
  const host = context.host;
  try {
    // A handler that ends while its accept() is still opening the socket
    // forgot to await it: whatever it did next cannot have worked. The
    // socket is let open first, so that the client is told with a close
    // frame (1011), not a dropped connection.
    const opening = ws[OPENING]();
    if (opening !== null) {
      outcome = threw(unawaitedAccept(route, outcome));
      await opening;
    }
    // Dependency cleanup first, then what the error means for the client
    // (FastAPI's order): the cleanup sees the error at its yield. A
    // disconnect escaping the handler is a normal end, not an error.
    if (solver !== undefined) {
      const error = outcome.kind === "threw" ? outcome.error : null;
      await cleanup(
        context,
        solver,
        error,
        outcome.kind === "threw" && !(error instanceof WebSocketDisconnect),
        route.path,
      );
    }
    if (outcome.kind === "threw") {
      await onError(context, route, ws, outcome.error);
    }
    // Finish what the handler left open.
    if (ws.applicationState === CONNECTING) {
      host.logger.warn(
        `WebSocket handler for "${route.path}" returned without calling accept() or close(): the handshake was refused with 403`,
      );
      await ws.close(1000);
    } else if (ws.applicationState === CONNECTED) {
      const closing = host.shutdown;
      await ws.close(closing?.code ?? 1000, closing?.reason ?? "");
    }
    if (!ws[SETTLED]()) await ws.closed;
    if (host.logger.info !== undefined) await logEnd(host, route, ws, start);
  } finally {
    host.running.delete(ws);
  }
}

// The session's one line, for a logger that has `info`: only sessions the
// handler accepted (a refusal has its own line, from the App).
async function logEnd(
  host: SessionHost,
  route: WebSocketRoute,
  ws: WebSocket,
  start: number,
): Promise<void> {
  if (!ws[ACCEPTED]()) return;
  const { code, reason } = await ws.closed;
  const path = ws.url.pathname;
  host.logger.info!(
    `WebSocket session ended: "${route.path}"${
      path === route.path ? "" : ` ("${path}")`
    } code ${code}${reason === "" ? "" : ` "${reason}"`} after ${
      Math.round(performance.now() - start)
    } ms`,
  );
}

function unawaitedAccept(route: WebSocketRoute, outcome: Outcome): Error {
  const ended = outcome.kind === "returned" ? "returned" : "threw";
  return new Error(
    `Cannot finish WebSocket handler for "${route.path}": it ${ended} while accept() was still opening the socket: did you forget to await ws.accept()?`,
    outcome.kind === "threw" ? { cause: outcome.error } : undefined,
  );
}

async function onError(
  context: SessionContext,
  route: WebSocketRoute,
  ws: WebSocket,
  error: unknown,
): Promise<void> {
  // The client left and the handler let the disconnect through: a normal end.
  if (error instanceof WebSocketDisconnect) return;
  const handler = context.host.handlerFor(error);
  if (handler !== undefined) {
    try {
      const response = await handler(ws, error);
      if (!(response instanceof Response)) return;
      if (ws.applicationState === CONNECTING) {
        await ws.sendDenialResponse(response);
        return;
      }
      error = new Error(
        "An exception handler returned a Response after accept(): close the WebSocket instead",
        { cause: error },
      );
    } catch (handlerError) {
      error = handlerError;
    }
  } else if (
    error instanceof WebSocketException ||
    error instanceof WebSocketRequestValidationError
  ) {
    const state = ws.applicationState;
    if (state !== CONNECTING && state !== CONNECTED) return;
    try {
      await ws.close(error.code, error.reason);
      return;
    } catch (closeError) {
      // An invalid code or reason in the exception: report that instead.
      error = closeError;
    }
  } else if (
    error instanceof HTTPException &&
    ws.applicationState === CONNECTING
  ) {
    await ws.sendDenialResponse(error.toResponse());
    return;
  }
  report(context, error, `WebSocket handler for "${route.path}"`);
  // Never the error's own message: close reasons reach untrusted clients.
  if (ws.applicationState === CONNECTING) {
    await ws.sendDenialResponse(
      new Response("Internal Server Error", { status: 500, headers: TEXT }),
    );
  } else if (ws.applicationState === CONNECTED) {
    await ws.close(1011, "Internal Server Error");
  }
}

/** Runs a request's dependency cleanup; what fails in it is reported. */
export async function cleanup(
  context: SessionContext,
  solver: Solver,
  error: unknown,
  failed: boolean,
  path: string,
): Promise<void> {
  await solver.cleanup(error, failed, (cleanupError, name) =>
    report(
      context,
      cleanupError,
      `cleanup of dependency "${name}" for "${path}"`,
    ));
}

/** Reports an unhandled error: to `context.onError`, else the log. */
export function report(
  context: SessionContext,
  error: unknown,
  where: string,
): void {
  if (context.onError !== undefined) context.onError(error);
  else context.host.logger.error(`Unhandled error in ${where}:`, error);
}
