// What an App does around routing for running in production: the
// middleware chain, the lifespan, connection limits and observers (and the
// access log lines of the refusals these make). Kept apart from app.ts,
// which only calls in at a few points: handle() around every request,
// chain() for route middleware, admit() once a WebSocket route matched, and
// finish() at the end of shutdown().
import type { Middleware } from "./middleware.ts";
import type { ClientKey, ConnectionLimits, RateLimit } from "./limits.ts";
import type {
  ConnectionObserver,
  HandshakeInfo,
  SessionInfo,
  SessionObserver,
} from "./observer.ts";
import { HTTPConnection } from "./connection.ts";
import type { UpgradeFunction } from "./upgrade.ts";
import type { WebSocket } from "./websocket.ts";
import type { WebSocketRoute } from "./route.ts";
import type { DispatchContext, HandshakeRecord } from "./_dispatch.ts";
import {
  HTTPException,
  RequestValidationError,
  WebSocketException,
} from "./errors.ts";
import { addressKey, clientAddress } from "./_client_key.ts";
import { MeteredSocket, type MeterPolicy } from "./_metered_socket.ts";
import { accessLine, routeWhere, type SessionCounts } from "./_access_log.ts";
import { type Metered, report, type SessionHost } from "./_session.ts";
import { END, OBSERVERS, SEND_NOW } from "./_symbols.ts";
import {
  encodeError,
  ERROR_CODE,
  InvalidFrame,
  parseFrame,
  type WireId,
} from "./_protocol_wire.ts";
import { requestHeaders } from "./_headers.ts";
import { asksForWebSocket } from "./_handshake.ts";

/** The App's options this module reads. */
export interface OperationsOptions extends ConnectionLimits {
  // deno-lint-ignore no-explicit-any
  lifespan?: (app: any) => AsyncGenerator<unknown, unknown, unknown>;
  trustProxy?: number;
}

const TEXT = { "content-type": "text/plain; charset=utf-8" };

const RETRY_AFTER_SECONDS = "5";

// One route's limits, merged with the app's (the route's win), worked out
// on the route's first handshake.
interface RoutePolicy {
  // The meter of its connections while nobody counts (null: no limit needs
  // one), and while observers or the access log (a logger with `info`) do.
  meter: MeterPolicy | null;
  countingMeter: MeterPolicy;
  maxConnections: number;
  maxConnectionsPerClient: number;
  clientKey: ClientKey | undefined;
  // Whether admit() has anything to do for it, with nobody counting.
  active: boolean;
  // A protocol route: a message over the rate limit is answered with an
  // `error` and dropped, rather than closing the connection.
  protocol: boolean;
  // Open connections of this route, if it has its own maxConnections or
  // maxConnectionsPerClient.
  open: number;
  perClient: Map<string, number>;
}

/** The production concerns of one App. */
export class Operations {
  readonly middleware: Middleware[] = [];
  readonly observers: ConnectionObserver[] = [];
  /** The lifespan's state (`app.state`). */
  state: Record<string, unknown> = {};
  #app: unknown;
  #options: OperationsOptions;
  #host: SessionHost;
  #logger: SessionHost["logger"];
  #policies = new WeakMap<WebSocketRoute, RoutePolicy>();
  #open = 0;
  #perClient = new Map<string, number>();
  // The lifespan: not started, starting, running (its generator), over.
  #lifespan: AsyncGenerator<unknown, unknown, unknown> | null = null;
  #starting: Promise<boolean> | null = null;
  #started = false;
  /** Whether handle() has anything to do; false means app.ts skips it. */
  active: boolean;

  constructor(
    app: unknown,
    options: OperationsOptions,
    host: SessionHost,
  ) {
    const trustProxy = options.trustProxy;
    if (
      trustProxy !== undefined &&
      !(Number.isInteger(trustProxy) && trustProxy >= 0)
    ) {
      throw new RangeError(
        `Cannot create App: trustProxy must be the number of proxies in front (0 or more), got ${trustProxy}`,
      );
    }
    if (
      options.lifespan !== undefined && typeof options.lifespan !== "function"
    ) {
      throw new TypeError(
        "Cannot create App: lifespan must be an async generator function",
      );
    }
    this.#app = app;
    this.#options = options;
    this.#host = host;
    this.#logger = host.logger;
    this.active = options.lifespan !== undefined;
  }

  /** Whether anyone reads a session's counters (observers, the access log). */
  get counting(): boolean {
    return this.observers.length > 0 || this.#logger.info !== undefined;
  }

  use(middleware: Middleware): void {
    if (typeof middleware !== "function") {
      throw new TypeError(
        "Cannot add middleware: expected a function (conn, next) => Response | void",
      );
    }
    this.middleware.push(middleware);
    this.active = true;
  }

  observe(observer: ConnectionObserver): () => void {
    if (typeof observer !== "object" || observer === null) {
      throw new TypeError(
        "Cannot observe app: expected an object with handshake() and/or accepted()",
      );
    }
    this.observers.push(observer);
    this.active = true;
    return () => {
      const at = this.observers.indexOf(observer);
      if (at !== -1) this.observers.splice(at, 1);
    };
  }

  // --- the lifespan ---------------------------------------------------------

  // Runs the lifespan up to its first yield; true once it is running.
  #start(): Promise<boolean> {
    return this.#starting ??= (async () => {
      const lifespan = this.#options.lifespan;
      if (lifespan === undefined) return this.#started = true;
      try {
        const run = lifespan(this.#app);
        const first = await run.next();
        this.#lifespan = run;
        if (first.done) {
          this.#lifespan = null;
          throw new Error(
            "Cannot start lifespan: it returned without yielding: yield once, after startup",
          );
        }
        if (typeof first.value === "object" && first.value !== null) {
          this.state = first.value as Record<string, unknown>;
        }
        return this.#started = true;
      } catch (error) {
        this.#logger.error("Lifespan startup failed:", error);
        return false;
      }
    })();
  }

  /** Ends the lifespan (the code after its yield); once. */
  async finish(): Promise<void> {
    const run = this.#lifespan;
    this.#lifespan = null;
    if (run === null) return;
    try {
      const after = await run.next();
      if (!after.done) {
        await run.return(undefined);
        this.#logger.warn(
          "Lifespan yielded more than once: only the first yield counts, it was ended there",
        );
      }
    } catch (error) {
      this.#logger.error("Lifespan shutdown failed:", error);
    }
  }

  // --- around every request -------------------------------------------------

  /**
   * Serves `request` through the lifespan's start and the middleware chain;
   * `inner` is routing and the handler.
   */
  async handle(
    request: Request,
    context: DispatchContext,
    inner: () => Promise<Response>,
  ): Promise<Response> {
    const upgrade = request.method === "GET" &&
      asksForWebSocket(request.headers.get("upgrade"));
    if (!this.#started) {
      if (!await this.#start()) {
        if (upgrade) {
          this.#refused(
            `"${new URL(request.url).pathname}"`,
            503,
            "startup failed",
          );
        }
        return new Response("Service Unavailable: startup failed", {
          status: 503,
          headers: TEXT,
        });
      }
    }
    const started = performance.now();
    let record: HandshakeRecord | undefined;
    if (upgrade && this.observers.length > 0) {
      record = context.handshake = {
        route: null,
        conn: null,
        accepted: false,
        startTime: Date.now(),
      };
    }
    let conn: HTTPConnection | undefined;
    let response: Response;
    if (this.middleware.length === 0) {
      response = await inner();
    } else {
      const url = new URL(request.url);
      conn = new HTTPConnection({
        app: this.#app as HTTPConnection["app"],
        url,
        headers: upgrade ? requestHeaders(request) : request.headers,
        client: context.client,
      });
      context.state = conn.state;
      response = await this.chain(
        this.middleware,
        conn,
        context,
        inner,
        upgrade ? `"${url.pathname}"` : null,
      );
    }
    if (record !== undefined) {
      this.#reportHandshake(request, record, response, conn, started);
    }
    return response;
  }

  /**
   * Runs the middleware of `list` in order; the last `next()` is `inner`.
   * `handshake` names an upgrade request in the access log (null for HTTP):
   * a handshake that middleware answers itself gets its line here.
   */
  chain(
    list: readonly Middleware[],
    conn: HTTPConnection,
    context: DispatchContext,
    inner: () => Promise<Response>,
    handshake: string | null,
  ): Promise<Response> {
    const step = async (index: number): Promise<Response> => {
      if (index === list.length) return await inner();
      let downstream: Promise<Response> | undefined;
      const next = () => downstream ??= step(index + 1);
      // A handshake answered before the route saw it (else the route's
      // own refusal has its line).
      const answered = (response: Response, why: string) => {
        if (handshake !== null && downstream === undefined) {
          this.#refused(handshake, response.status, why);
        }
        return response;
      };
      let result: Response | void;
      try {
        result = await list[index](conn, next);
      } catch (error) {
        // What the handler already started (an accepted socket) stands.
        const passed = downstream === undefined ? undefined : await downstream;
        if (passed !== undefined && isUpgrade(passed)) {
          this.#report("middleware", error);
          return passed;
        }
        return answered(
          await this.#middlewareError(conn, error, context),
          "middleware failed",
        );
      }
      if (result === undefined) return await next();
      if (!(result instanceof Response)) {
        return answered(
          await this.#middlewareError(
            conn,
            new TypeError(
              `Middleware returned ${typeof result}: expected a Response or nothing`,
            ),
            context,
          ),
          "middleware failed",
        );
      }
      if (downstream !== undefined) {
        const passed = await downstream;
        if (passed !== result && isUpgrade(passed)) {
          this.#logger.error(
            "Cannot replace the 101 response of an accepted WebSocket in middleware: add headers to the response next() returned instead; the 101 was sent",
          );
          return passed;
        }
      }
      return answered(result, "denied by middleware");
    };
    return step(0);
  }

  // What an error thrown by middleware becomes: the app's exception
  // handlers, else an HTTPException's response, else a reported 500.
  async #middlewareError(
    conn: HTTPConnection,
    error: unknown,
    context: DispatchContext,
  ): Promise<Response> {
    const handler = this.#host.handlerFor(error);
    if (handler !== undefined) {
      try {
        const response = await handler(conn, error);
        if (response instanceof Response) return response;
        error = new Error(
          "An exception handler for an error in middleware returned no Response",
          { cause: error },
        );
      } catch (handlerError) {
        error = handlerError;
      }
    } else if (
      error instanceof HTTPException || error instanceof RequestValidationError
    ) {
      return error.toResponse();
    } else if (error instanceof WebSocketException) {
      context.onRefuse?.(error.code, error.reason);
      return new Response(null, { status: 403 });
    }
    report({ host: this.#host, onError: context.onError }, error, "middleware");
    return new Response("Internal Server Error", {
      status: 500,
      headers: TEXT,
    });
  }

  #report(where: string, error: unknown): void {
    this.#logger.error(`Unhandled error in ${where}:`, error);
  }

  // The access log's line of a handshake refused here.
  #refused(where: string, status: number, why: string): void {
    this.#logger.info?.(accessLine({ kind: "refused", where, status, why }));
  }

  #reportHandshake(
    request: Request,
    record: HandshakeRecord,
    response: Response,
    conn: HTTPConnection | undefined,
    started: number,
  ): void {
    const accepted = record.accepted && isUpgrade(response);
    const status = accepted ? 101 : response.status;
    const info: HandshakeInfo = {
      route: record.route,
      path: new URL(request.url).pathname,
      status,
      outcome: accepted ? "accepted" : record.close !== undefined ||
          (status === 403 && record.route === null)
        ? "refused"
        : status === 500
        ? "error"
        : "denied",
      durationMs: performance.now() - started,
    };
    if (record.close !== undefined) info.close = record.close;
    const target = record.conn ?? conn ?? new HTTPConnection({
      app: this.#app as HTTPConnection["app"],
      url: new URL(request.url),
      headers: new Headers(),
    });
    for (const observer of this.observers) {
      try {
        observer.handshake?.(target, info);
      } catch (error) {
        this.#report("a connection observer", error);
      }
    }
  }

  // --- per WebSocket connection ---------------------------------------------

  #policy(route: WebSocketRoute): RoutePolicy {
    let policy = this.#policies.get(route);
    if (policy !== undefined) return policy;
    const app = this.#options;
    const own = route.options as ConnectionLimits;
    const rateLimit: RateLimit | undefined = own.rateLimit ?? app.rateLimit;
    const maxLifetime = own.maxLifetime ?? app.maxLifetime;
    const maxLifetimeMs = maxLifetime === undefined ? 0 : maxLifetime * 1000;
    const meter = { route: route.path, rateLimit, maxLifetimeMs };
    const limited = rateLimit !== undefined || maxLifetimeMs > 0;
    policy = {
      meter: limited ? { ...meter, counting: false } : null,
      countingMeter: { ...meter, counting: true },
      maxConnections: own.maxConnections ?? 0,
      maxConnectionsPerClient: own.maxConnectionsPerClient ?? 0,
      clientKey: own.clientKey ?? app.clientKey,
      active: false,
      protocol: route.options.protocol !== undefined,
      open: 0,
      perClient: new Map(),
    };
    policy.active = limited || policy.maxConnections > 0 ||
      policy.maxConnectionsPerClient > 0 || app.maxConnections !== undefined ||
      app.maxConnectionsPerClient !== undefined;
    this.#policies.set(route, policy);
    return policy;
  }

  /**
   * Once a WebSocket route matched: refuses the handshake over a connection
   * limit (a Response to send), or returns what follows the connection
   * (null when nothing does).
   */
  admit(
    route: WebSocketRoute,
    url: URL,
    headers: Headers,
    context: DispatchContext,
  ): Response | Admission | null {
    const policy = this.#policy(route);
    if (context.handshake !== undefined) context.handshake.route = route.path;
    if (!policy.active && !this.active && route.middleware.length === 0) {
      return null;
    }
    const app = this.#options;
    if (app.maxConnections !== undefined && this.#open >= app.maxConnections) {
      return this.#refuse(503, "too many connections", route, url);
    }
    if (policy.maxConnections > 0 && policy.open >= policy.maxConnections) {
      return this.#refuse(
        503,
        "too many connections to this route",
        route,
        url,
      );
    }
    let client: string | undefined;
    if (
      app.maxConnectionsPerClient !== undefined ||
      policy.maxConnectionsPerClient > 0
    ) {
      try {
        client = this.#clientOf(policy, url, headers, context);
      } catch (error) {
        // Never the error's message: response bodies reach untrusted clients.
        this.#report(`clientKey for "${route.path}"`, error);
        this.#refused(
          routeWhere(route.path, url.pathname),
          500,
          "clientKey failed",
        );
        return new Response("Internal Server Error", {
          status: 500,
          headers: TEXT,
        });
      }
      if (
        app.maxConnectionsPerClient !== undefined &&
        (this.#perClient.get(client) ?? 0) >= app.maxConnectionsPerClient
      ) {
        return this.#refuse(
          429,
          "too many connections from this client",
          route,
          url,
        );
      }
      if (
        policy.maxConnectionsPerClient > 0 &&
        (policy.perClient.get(client) ?? 0) >= policy.maxConnectionsPerClient
      ) {
        return this.#refuse(
          429,
          "too many connections from this client to this route",
          route,
          url,
        );
      }
    }
    return new Admission(this, policy, client);
  }

  #clientOf(
    policy: RoutePolicy,
    url: URL,
    headers: Headers,
    context: DispatchContext,
  ): string {
    if (policy.clientKey !== undefined) {
      const key = policy.clientKey(
        new HTTPConnection({
          app: this.#app as HTTPConnection["app"],
          url,
          headers,
          client: context.client,
          state: context.state,
        }),
      );
      if (typeof key === "string") return "key:" + key;
    }
    const address = clientAddress(
      context.client?.hostname ?? null,
      headers,
      this.#options.trustProxy ?? 0,
    );
    return address === null ? "unknown" : addressKey(address);
  }

  #refuse(
    status: number,
    why: string,
    route: WebSocketRoute,
    url: URL,
  ): Response {
    this.#logger.warn(
      `Refused WebSocket upgrade to "${route.path}": ${why} (${status}): retry later`,
    );
    this.#refused(routeWhere(route.path, url.pathname), status, why);
    return new HTTPException(
      status,
      status === 429
        ? "Too Many Requests: " + why
        : "Service Unavailable: " + why,
      { "retry-after": RETRY_AFTER_SECONDS },
    ).toResponse();
  }

  /** Counts an admitted connection in. */
  enter(policy: RoutePolicy, client: string | undefined): void {
    this.#open++;
    policy.open++;
    if (client !== undefined) {
      this.#perClient.set(client, (this.#perClient.get(client) ?? 0) + 1);
      policy.perClient.set(client, (policy.perClient.get(client) ?? 0) + 1);
    }
  }

  /** Counts it out, once its handler and socket are done. */
  leave(policy: RoutePolicy, client: string | undefined): void {
    this.#open--;
    policy.open--;
    if (client !== undefined) {
      decrement(this.#perClient, client);
      decrement(policy.perClient, client);
    }
  }

  /** Starts the observers' sessions for an accepted connection. */
  sessions(
    ws: WebSocket,
    route: string,
    startTime: number,
  ): SessionObserver[] {
    const sessions: SessionObserver[] = [];
    for (const observer of this.observers) {
      try {
        const session = observer.accepted?.(ws, route, startTime);
        if (session) sessions.push(session);
      } catch (error) {
        this.#report("a connection observer", error);
      }
    }
    return sessions;
  }

  /** An accepted connection has closed. */
  closed(sessions: SessionObserver[], info: SessionInfo): void {
    for (const session of sessions) {
      try {
        session.closed?.(info);
      } catch (error) {
        this.#report("a connection observer", error);
      }
    }
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const count = (map.get(key) ?? 1) - 1;
  if (count === 0) map.delete(key);
  else map.set(key, count);
}

// The answer to a protocol message dropped over the rate limit: an `error`
// with the message's `id`, so that a request fails at once rather than
// waiting for its timeout.
function rateLimited(data: unknown): string {
  const frame = typeof data === "string" ? parseFrame(data) : null;
  const id = frame === null || frame instanceof InvalidFrame
    ? undefined
    : frame.id as WireId | undefined;
  return encodeError(id, {
    code: ERROR_CODE.RateLimited,
    message:
      "Cannot read message: over the rate limit, it was dropped: send fewer messages",
  });
}

// The upgrade response (a 101, or the test client's stand-in for it): the
// only responses that carry a socket.
const upgrades = new WeakSet<Response>();

function isUpgrade(response: Response): boolean {
  return upgrades.has(response);
}

/**
 * One admitted connection: its limit counts, and the socket it is served on
 * (metered when its limits or anyone counting need it).
 */
export class Admission implements Metered {
  #ops: Operations;
  #policy: RoutePolicy;
  #client: string | undefined;
  #ws: WebSocket | undefined;
  #socket: MeteredSocket | null = null;
  #left = false;

  constructor(
    ops: Operations,
    policy: RoutePolicy,
    client: string | undefined,
  ) {
    this.#ops = ops;
    this.#policy = policy;
    this.#client = client;
    ops.enter(policy, client);
  }

  /** The connection this admission is for. */
  set ws(ws: WebSocket) {
    this.#ws = ws;
  }

  /** The upgrade function to use: `upgrade`, with the socket metered. */
  upgrade(upgrade: UpgradeFunction, record?: HandshakeRecord): UpgradeFunction {
    return (request, options) => {
      const upgraded = upgrade(request, options);
      upgrades.add(upgraded.response);
      if (record !== undefined) record.accepted = true;
      const ops = this.#ops;
      const meter = ops.counting
        ? this.#policy.countingMeter
        : this.#policy.meter;
      if (meter === null) return upgraded;
      const ws = this.#ws!;
      const sessions = meter.counting
        ? ops.sessions(ws, meter.route, record?.startTime ?? Date.now())
        : [];
      // Broadcast reports its deliveries to them (see Broadcast#send).
      if (sessions.length > 0) ws[OBSERVERS] = sessions;
      const socket = new MeteredSocket(upgraded.socket, meter, {
        end: (code, reason) => ws[END](code, reason),
        overLimit: this.#policy.protocol
          ? (data) => {
            // At once or not at all: a client flooding the route without
            // reading its answers gets no more of them.
            ws[SEND_NOW](rateLimited(data));
            return false;
          }
          : undefined,
        closed: (info) => ops.closed(sessions, info),
      }, sessions);
      if (meter.counting) this.#socket = socket;
      return { socket, response: upgraded.response };
    };
  }

  /** The session's counts, if they were metered (for the access log). */
  counts(): SessionCounts | null {
    return this.#socket;
  }

  /** The connection is over: its counts go. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#ops.leave(this.#policy, this.#client);
  }
}
