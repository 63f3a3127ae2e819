/**
 * OpenTelemetry for an `App`: spans for WebSocket handshakes and sessions,
 * and metrics for connections, messages, bytes, close codes and send
 * buffers, through `npm:@opentelemetry/api`. Deno's built-in
 * OpenTelemetry (`OTEL_DENO=true`) exports them with no SDK to set up;
 * without it (and without a provider of your own) the API is a no-op.
 *
 * Deno ends the span of an upgrade request at the 101 and records nothing
 * of the session; this fills that gap. (OpenTelemetry has no semantic
 * conventions for WebSockets yet: the names below follow its HTTP ones
 * where they apply and are documented here.)
 *
 * @module
 */
// A full npm: specifier, not a bare name: a bare name that only this
// package's import map knows breaks for anyone importing this file by path.
// deno-lint-ignore no-import-prefix
import * as otel from "npm:@opentelemetry/api@^1.9";
import type { App } from "./app.ts";
import type {
  HandshakeInfo,
  SessionInfo,
  SessionObserver,
} from "./observer.ts";
import type { HTTPConnection } from "./connection.ts";
import type { WebSocket } from "./websocket.ts";

/**
 * Options of {@linkcode instrument}. Spans and metrics go to the global
 * providers of `@opentelemetry/api`: Deno's with `OTEL_DENO=true`, or those
 * an SDK registered (`trace.setGlobalTracerProvider()`).
 *
 * @example A scope name of your own
 * ```ts
 * import type { InstrumentOptions } from "@wsapi/wsapi/otel";
 * import assert from "node:assert/strict";
 *
 * const options: InstrumentOptions = {
 *   scopeName: "chat-server",
 *   // "room:42" and "room:7" are both recorded as "room:*".
 *   broadcastChannelTemplate: (channel) => channel.replace(/:.*$/, ":*"),
 * };
 * assert.equal(options.broadcastChannelTemplate?.("room:42"), "room:*");
 * ```
 */
export interface InstrumentOptions {
  /** The instrumentation scope of the tracer and meter. @default {"@wsapi/wsapi"} */
  scopeName?: string;
  /**
   * Names a broadcast channel for the `messaging.destination.template`
   * attribute of `websocket.server.broadcast.lag` (undefined: none). Return
   * few distinct values (`"room:*"`, not `"room:42"`): every value is a
   * time series of its own. Unset, the lag has no channel attribute, since
   * channel names are often unbounded (one per user or document).
   *
   * @default {undefined}
   */
  broadcastChannelTemplate?: (channel: string) => string | undefined;
}

const SCOPE = "@wsapi/wsapi";

/**
 * Instruments `app` through `app.observe()`. Connections accepted after
 * the call are observed.
 *
 * Spans:
 * - `WebSocket handshake {route}` (kind internal, a child of the request's
 *   span), per handshake, from the request to the answer: `http.route`, `http.request.method`, `url.path`,
 *   `http.response.status_code` (101 when accepted), `websocket.handshake.outcome`
 *   (`accepted`, `refused`, `denied`, `error`), and for a refusal
 *   `websocket.close.code` and `websocket.close.reason`. The request's own
 *   server span (Deno's) gets `http.route` and the name `GET {route}`, when
 *   it is the active span.
 * - `WebSocket {route}` (kind internal), per accepted session, from accept to
 *   close, linked to its handshake span: `http.route`, `websocket.close.code`,
 *   `websocket.close.reason`, `websocket.messages.received`,
 *   `websocket.messages.sent`, `websocket.bytes.received`,
 *   `websocket.bytes.sent`, `websocket.send_buffer.high_water`. A close
 *   code other than 1000, 1001 and 1005 sets the status to error.
 *
 * Metrics (attributes: `http.route`):
 * - `websocket.server.active_connections` (up-down counter);
 * - `websocket.server.handshakes` (counter; also `websocket.handshake.outcome`,
 *   `http.response.status_code`);
 * - `websocket.server.messages.received`, `websocket.server.messages.sent`
 *   (counters, `{message}`), `websocket.server.bytes.received`,
 *   `websocket.server.bytes.sent` (counters, `By`);
 * - `websocket.server.closes` (counter; also `websocket.close.code`);
 * - `websocket.server.send_buffer.high_water` (histogram, `By`, one value
 *   per session: the largest send buffer seen);
 * - `websocket.server.session.duration` (histogram, `s`);
 * - `websocket.server.broadcast.lag` (histogram, `ms`): for each live
 *   message a `Broadcast` (`@wsapi/wsapi/broadcast`) hands a socket of this
 *   app, the time since `publish()` was called (for a socket over its send
 *   high-water mark, until the message went out). A `Broadcast` belongs to
 *   no app: the deliveries to a member are recorded by the app that
 *   accepted it. Replays of history on `join(channel, ws, { since })` are
 *   not recorded (their age is the client's absence, not lag), nor are
 *   `subscribe()` iterators. Measured are the publications that carry
 *   their time: a `Broadcast` stamps its publications while it has an
 *   observed member, or always when its backend has `publishTime: true`.
 *   `MemoryBackend` and `BroadcastChannelBackend` carry the stamp (older
 *   versions ignore it); the Redis backends only with `publishTime: true`
 *   (off by default, since versions before it drop stamped messages; every
 *   version with it reads both formats), and that holds for what a node
 *   publishes to itself too, as it comes back through Redis. Across
 *   machines the lag is as exact as their clocks agree (run NTP); a
 *   negative difference is recorded as 0. No channel attribute unless
 *   `broadcastChannelTemplate` names one.
 *
 * @param app The app.
 * @param options The instrumentation scope, and the broadcast lag's channel
 * attribute.
 * @returns A function that stops observing.
 *
 * @example Instrumenting an app (export with OTEL_DENO=true)
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { instrument } from "@wsapi/wsapi/otel";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const app = new App();
 * const stop = instrument(app);
 * app.websocket("/ws/{room}", async (ws) => {
 *   await ws.accept();
 *   await ws.sendText(await ws.receiveText());
 * });
 * await using ws = await new TestClient(app).websocketConnect("/ws/lobby");
 * await ws.sendText("hi");
 * assert.equal(await ws.receiveText(), "hi");
 * stop();
 * ```
 */
export function instrument(
  app: App,
  options: InstrumentOptions = {},
): () => void {
  const tracer = otel.trace.getTracer(options.scopeName ?? SCOPE);
  const meter = otel.metrics.getMeter(options.scopeName ?? SCOPE);
  const instruments = new Instruments(meter, options.broadcastChannelTemplate);
  // Handshake spans of accepted connections, ended when the 101 is reported.
  const pending = new WeakMap<HTTPConnection, otel.Span>();
  return app.observe({
    handshake(conn, info) {
      instruments.handshakes.add(1, {
        "http.route": info.route ?? "",
        "websocket.handshake.outcome": info.outcome,
        "http.response.status_code": info.status,
      });
      let span = pending.get(conn);
      if (span !== undefined) pending.delete(conn);
      else {
        span = startHandshake(
          tracer,
          info.route,
          info.path,
          Date.now() - info.durationMs,
        );
      }
      endHandshake(span, info);
    },
    accepted(ws, route, startTime) {
      const handshake = startHandshake(
        tracer,
        route,
        ws.url.pathname,
        startTime,
      );
      pending.set(ws, handshake);
      return new Session(instruments, tracer, handshake, ws, route);
    },
  });
}

function startHandshake(
  tracer: otel.Tracer,
  route: string | null,
  path: string,
  startTime: number,
): otel.Span {
  const name = `WebSocket handshake ${route ?? path}`;
  const attributes: otel.Attributes = {
    "http.request.method": "GET",
    "url.path": path,
  };
  if (route !== null) {
    attributes["http.route"] = route;
    // The request's own span (Deno's HTTP instrumentation), if active.
    const active = otel.trace.getActiveSpan();
    if (active !== undefined) {
      active.setAttribute("http.route", route);
      active.updateName(`GET ${route}`);
    }
  }
  return tracer.startSpan(
    name,
    // Internal: the request's server span is Deno's (or the SDK's); a
    // second server span would count every handshake twice.
    { kind: otel.SpanKind.INTERNAL, startTime, attributes },
    otel.context.active(),
  );
}

function endHandshake(span: otel.Span, info: HandshakeInfo): void {
  span.setAttribute("http.response.status_code", info.status);
  span.setAttribute("websocket.handshake.outcome", info.outcome);
  if (info.close !== undefined) {
    span.setAttribute("websocket.close.code", info.close.code);
    span.setAttribute("websocket.close.reason", info.close.reason);
  }
  if (info.outcome === "error") {
    span.setStatus({ code: otel.SpanStatusCode.ERROR });
  }
  span.end();
}

class Instruments {
  readonly open: otel.UpDownCounter;
  readonly handshakes: otel.Counter;
  readonly messagesReceived: otel.Counter;
  readonly messagesSent: otel.Counter;
  readonly bytesReceived: otel.Counter;
  readonly bytesSent: otel.Counter;
  readonly closes: otel.Counter;
  readonly sendBuffer: otel.Histogram;
  readonly duration: otel.Histogram;
  readonly broadcastLag: otel.Histogram;
  readonly channelTemplate:
    | ((channel: string) => string | undefined)
    | undefined;

  constructor(
    meter: otel.Meter,
    channelTemplate: ((channel: string) => string | undefined) | undefined,
  ) {
    this.channelTemplate = channelTemplate;
    this.open = meter.createUpDownCounter(
      "websocket.server.active_connections",
      { description: "Open WebSocket connections", unit: "{connection}" },
    );
    this.handshakes = meter.createCounter("websocket.server.handshakes", {
      description: "WebSocket handshakes answered, by outcome",
      unit: "{handshake}",
    });
    this.messagesReceived = meter.createCounter(
      "websocket.server.messages.received",
      { description: "Messages received from clients", unit: "{message}" },
    );
    this.messagesSent = meter.createCounter("websocket.server.messages.sent", {
      description: "Messages sent to clients",
      unit: "{message}",
    });
    this.bytesReceived = meter.createCounter(
      "websocket.server.bytes.received",
      { description: "Message bytes received from clients", unit: "By" },
    );
    this.bytesSent = meter.createCounter("websocket.server.bytes.sent", {
      description: "Message bytes sent to clients",
      unit: "By",
    });
    this.closes = meter.createCounter("websocket.server.closes", {
      description: "Closed WebSocket sessions, by close code",
      unit: "{session}",
    });
    this.sendBuffer = meter.createHistogram(
      "websocket.server.send_buffer.high_water",
      {
        description: "The largest send buffer of each session",
        unit: "By",
      },
    );
    this.duration = meter.createHistogram(
      "websocket.server.session.duration",
      { description: "How long WebSocket sessions lasted", unit: "s" },
    );
    this.broadcastLag = meter.createHistogram(
      "websocket.server.broadcast.lag",
      {
        description:
          "Time from a broadcast's publish() to its message handed to a socket",
        unit: "ms",
        // In-process deliveries take well under a millisecond; the
        // default boundaries (0, 5, 10, ... ms) would put them all in one.
        advice: {
          explicitBucketBoundaries: [
            0.1,
            0.25,
            0.5,
            1,
            2.5,
            5,
            10,
            25,
            50,
            100,
            250,
            500,
            1000,
            2500,
            5000,
            10000,
          ],
        },
      },
    );
  }
}

// Close codes that end a session normally.
const NORMAL_CLOSE = new Set([1000, 1001, 1005]);

/** One accepted connection's span and counters. */
class Session implements SessionObserver {
  #instruments: Instruments;
  #span: otel.Span;
  // One attributes object for every data point of this session.
  #attributes: otel.Attributes;
  // The lag's attributes per channel template, with broadcastChannelTemplate.
  #lagAttributes: Map<string, otel.Attributes> | undefined;

  constructor(
    instruments: Instruments,
    tracer: otel.Tracer,
    handshake: otel.Span,
    ws: WebSocket,
    route: string,
  ) {
    this.#instruments = instruments;
    this.#attributes = { "http.route": route };
    // Internal too: a session lasts minutes or hours, and tools that read
    // server spans as requests would count it as one long request.
    this.#span = tracer.startSpan(`WebSocket ${route}`, {
      kind: otel.SpanKind.INTERNAL,
      attributes: { "http.route": route, "url.path": ws.url.pathname },
      links: [{ context: handshake.spanContext() }],
    }, otel.context.active());
    instruments.open.add(1, this.#attributes);
  }

  received(bytes: number): void {
    this.#instruments.messagesReceived.add(1, this.#attributes);
    this.#instruments.bytesReceived.add(bytes, this.#attributes);
  }

  sent(bytes: number): void {
    this.#instruments.messagesSent.add(1, this.#attributes);
    this.#instruments.bytesSent.add(bytes, this.#attributes);
  }

  broadcastDelivered(channel: string, lagMs: number): void {
    const instruments = this.#instruments;
    // Histograms take no negative values; one comes from clock skew.
    const lag = lagMs > 0 ? lagMs : 0;
    const template = instruments.channelTemplate?.(channel);
    if (template === undefined) {
      instruments.broadcastLag.record(lag, this.#attributes);
      return;
    }
    const cache = this.#lagAttributes ??= new Map();
    let attributes = cache.get(template);
    if (attributes === undefined) {
      attributes = {
        ...this.#attributes,
        "messaging.destination.template": template,
      };
      cache.set(template, attributes);
    }
    instruments.broadcastLag.record(lag, attributes);
  }

  closed(info: SessionInfo): void {
    const instruments = this.#instruments;
    instruments.open.add(-1, this.#attributes);
    instruments.closes.add(1, {
      "http.route": info.route,
      "websocket.close.code": info.code,
    });
    instruments.sendBuffer.record(info.sendBufferHighWater, this.#attributes);
    instruments.duration.record(info.durationMs / 1000, this.#attributes);
    const span = this.#span;
    span.setAttributes({
      "websocket.close.code": info.code,
      "websocket.close.reason": info.reason,
      "websocket.messages.received": info.messagesReceived,
      "websocket.messages.sent": info.messagesSent,
      "websocket.bytes.received": info.bytesReceived,
      "websocket.bytes.sent": info.bytesSent,
      "websocket.send_buffer.high_water": info.sendBufferHighWater,
    });
    if (!NORMAL_CLOSE.has(info.code)) {
      span.setStatus({
        code: otel.SpanStatusCode.ERROR,
        message: `closed with ${info.code}`,
      });
    }
    span.end();
  }
}
