// instrument() through Deno's built-in OpenTelemetry: a subprocess with
// OTEL_DENO=true exports over OTLP/HTTP JSON to a collector served here.
import assert from "node:assert/strict";
import { App } from "../mod.ts";
import { instrument } from "../otel.ts";
import { TestClient } from "../testing.ts";

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: OtlpAttribute[];
  links?: { traceId: string; spanId: string }[];
}
interface OtlpPoint {
  attributes: OtlpAttribute[];
  timeUnixNano?: string;
  asInt?: string | number;
  asDouble?: number;
  count?: string | number;
  sum?: number;
  max?: number;
}
interface OtlpMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints: OtlpPoint[] };
  histogram?: { dataPoints: OtlpPoint[] };
}

function attributes(list: OtlpAttribute[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list) {
    out[key] = value.stringValue ?? value.boolValue ?? value.doubleValue ??
      (value.intValue === undefined ? undefined : Number(value.intValue));
  }
  return out;
}

// Every point of a metric, over all exports, whose attributes include
// `where`.
function points(
  metrics: OtlpMetric[],
  name: string,
  where: Record<string, unknown>,
): { point: OtlpPoint; attrs: Record<string, unknown> }[] {
  const out = [];
  for (const metric of metrics.filter((m) => m.name === name)) {
    for (
      const point of metric.sum?.dataPoints ?? metric.histogram?.dataPoints ??
        []
    ) {
      const attrs = attributes(point.attributes);
      if (Object.entries(where).every(([k, v]) => attrs[k] === v)) {
        out.push({ point, attrs });
      }
    }
  }
  return out;
}

// Deno exports cumulative values, once per interval and at exit: a series
// (one set of attributes) is its last point.
function latest(
  metrics: OtlpMetric[],
  name: string,
  where: Record<string, unknown>,
): { point: OtlpPoint; attrs: Record<string, unknown> }[] {
  const series = new Map<
    string,
    { point: OtlpPoint; attrs: Record<string, unknown> }
  >();
  for (const found of points(metrics, name, where)) {
    const key = JSON.stringify(Object.entries(found.attrs).sort());
    const before = series.get(key);
    if (before === undefined || time(found.point) >= time(before.point)) {
      series.set(key, found);
    }
  }
  return [...series.values()];
}

function time(point: OtlpPoint): bigint {
  return BigInt(point.timeUnixNano ?? "0");
}

function value(point: OtlpPoint): number {
  return Number(point.asInt ?? point.asDouble ?? 0);
}

// A counter's final total over the series whose attributes include `where`.
function total(
  metrics: OtlpMetric[],
  name: string,
  where: Record<string, unknown> = {},
): number {
  let sum = 0;
  for (const { point } of latest(metrics, name, where)) sum += value(point);
  return sum;
}

Deno.test("instrument() under OTEL_DENO=true exports handshake and session spans and the WebSocket metrics", async () => {
  const spans: OtlpSpan[] = [];
  const metrics: OtlpMetric[] = [];
  const collector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/open-seen") {
        // The fixture asks, its echo session open, whether an export has
        // counted that session among the active connections yet.
        const open = points(metrics, "websocket.server.active_connections", {
          "http.route": "/rooms/{room}",
        });
        return Response.json(open.some(({ point }) => value(point) >= 1));
      }
      const body = await request.json();
      if (path === "/v1/traces") {
        for (const resource of body.resourceSpans ?? []) {
          for (const scope of resource.scopeSpans ?? []) {
            spans.push(...scope.spans);
          }
        }
      } else if (path === "/v1/metrics") {
        for (const resource of body.resourceMetrics ?? []) {
          for (const scope of resource.scopeMetrics ?? []) {
            metrics.push(...scope.metrics);
          }
        }
      }
      return Response.json({});
    },
  );
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "_test/fixtures/otel_session.ts"],
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
        OTEL_SERVICE_NAME: "wsapi-test",
        // Exports during the session too, not only at exit.
        OTEL_METRIC_EXPORT_INTERVAL: "100",
        OPEN_SEEN_URL: `http://127.0.0.1:${collector.addr.port}/open-seen`,
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(
      new TextDecoder().decode(output.stdout).trim(),
      '["echo ab","echo cde","a1","a2","p1"]',
    );
  } finally {
    await collector.shutdown();
  }

  // Spans: two handshakes (one refused, one accepted) and one session.
  const handshakes = spans.filter((s) =>
    s.name === "WebSocket handshake /rooms/{room}"
  );
  const byOutcome = Object.fromEntries(
    handshakes.map((s) => [
      attributes(s.attributes)["websocket.handshake.outcome"],
      s,
    ]),
  );
  assert.deepEqual(Object.keys(byOutcome).sort(), ["accepted", "refused"]);
  const accepted = attributes(byOutcome.accepted.attributes);
  assert.equal(accepted["http.route"], "/rooms/{room}");
  assert.equal(accepted["url.path"], "/rooms/lobby");
  assert.equal(accepted["http.response.status_code"], 101);
  const refused = attributes(byOutcome.refused.attributes);
  assert.equal(refused["http.response.status_code"], 403);
  assert.equal(refused["websocket.close.code"], 4003);
  assert.equal(refused["websocket.close.reason"], "room closed");

  // Deno's own span of the upgrade request is named for the route too, and
  // the handshake span is its child.
  const requestSpan = spans.find((s) =>
    s.name === "GET /rooms/{room}" &&
    attributes(s.attributes)["url.path"] === "/rooms/lobby"
  );
  assert.ok(requestSpan, `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.equal(
    attributes(requestSpan.attributes)["http.route"],
    "/rooms/{room}",
  );
  assert.equal(byOutcome.accepted.parentSpanId, requestSpan.spanId);
  assert.equal(byOutcome.accepted.traceId, requestSpan.traceId);

  const session = spans.find((s) => s.name === "WebSocket /rooms/{room}");
  assert.ok(session, `spans: ${spans.map((s) => s.name).join(", ")}`);
  const sessionAttributes = attributes(session.attributes);
  assert.equal(sessionAttributes["http.route"], "/rooms/{room}");
  assert.equal(sessionAttributes["websocket.close.code"], 4000);
  assert.equal(sessionAttributes["websocket.close.reason"], "bye");
  assert.equal(sessionAttributes["websocket.messages.received"], 2);
  assert.equal(sessionAttributes["websocket.messages.sent"], 2);
  assert.equal(sessionAttributes["websocket.bytes.received"], 5);
  assert.equal(sessionAttributes["websocket.bytes.sent"], 15);
  assert.deepEqual(
    session.links?.map((l) => l.spanId),
    [byOutcome.accepted.spanId],
  );

  // Metrics.
  const route = { "http.route": "/rooms/{room}" };
  assert.equal(
    total(metrics, "websocket.server.handshakes", {
      ...route,
      "websocket.handshake.outcome": "accepted",
    }),
    1,
  );
  assert.equal(
    total(metrics, "websocket.server.handshakes", {
      ...route,
      "websocket.handshake.outcome": "refused",
      "http.response.status_code": 403,
    }),
    1,
  );
  assert.equal(total(metrics, "websocket.server.messages.received", route), 2);
  assert.equal(total(metrics, "websocket.server.messages.sent", route), 2);
  assert.equal(total(metrics, "websocket.server.bytes.received", route), 5);
  assert.equal(total(metrics, "websocket.server.bytes.sent", route), 15);
  assert.equal(
    total(metrics, "websocket.server.closes", {
      ...route,
      "websocket.close.code": 4000,
    }),
    1,
  );
  // Exported for the route: 1 while the session was open (the fixture kept
  // it open until an export said so), back to 0 once it closed.
  const active = points(metrics, "websocket.server.active_connections", route);
  assert.ok(active.length > 0, "active_connections exported for the route");
  assert.equal(Math.max(...active.map(({ point }) => value(point))), 1);
  const final = latest(metrics, "websocket.server.active_connections", route);
  assert.equal(final.length, 1);
  assert.equal(value(final[0].point), 0);
  assert.equal(
    histogram(metrics, "websocket.server.send_buffer.high_water", route).count,
    1,
  );
  assert.equal(
    histogram(metrics, "websocket.server.session.duration", route).count,
    1,
  );

  // Broadcast lag: one value per delivery to a member, in ms, by route;
  // the channel only as the template broadcastChannelTemplate gave.
  const lag = metrics.find((m) => m.name === "websocket.server.broadcast.lag");
  assert.equal(lag?.unit, "ms");
  const feeds = { "http.route": "/feeds/{name}" };
  const templated = histogram(metrics, "websocket.server.broadcast.lag", {
    ...feeds,
    "messaging.destination.template": "feed:*",
  });
  assert.equal(templated.count, 2);
  const untemplated = histogram(
    metrics,
    "websocket.server.broadcast.lag",
    feeds,
    (attrs) => !("messaging.destination.template" in attrs),
  );
  assert.equal(untemplated.count, 1);
  for (const { sum, max } of [templated, untemplated]) {
    // In one process, well under the run's length; never negative.
    assert.ok(sum >= 0 && max >= 0 && max < 10_000, `sum ${sum}, max ${max}`);
  }
  assert.equal(
    histogram(metrics, "websocket.server.broadcast.lag", route).count,
    0,
    "no broadcast on the echo route",
  );
});

// Adds up a histogram's points whose attributes include `where` (and pass
// `also`).
function histogram(
  metrics: OtlpMetric[],
  name: string,
  where: Record<string, unknown>,
  also: (attrs: Record<string, unknown>) => boolean = () => true,
): { count: number; sum: number; max: number } {
  const out = { count: 0, sum: 0, max: 0 };
  for (const { point, attrs } of latest(metrics, name, where)) {
    if (!also(attrs)) continue;
    out.count += Number(point.count ?? 0);
    out.sum += point.sum ?? 0;
    out.max = Math.max(out.max, point.max ?? 0);
  }
  return out;
}

Deno.test("instrument() without an exporter leaves messaging as it was, before and after stop()", async () => {
  const app = new App();
  const stop = instrument(app);
  app.websocket("/ws", async (ws) => {
    await ws.accept();
    await ws.sendText(await ws.receiveText());
  });
  const client = new TestClient(app);
  {
    await using ws = await client.websocketConnect("/ws");
    await ws.sendText("x");
    assert.equal(await ws.receiveText(), "x");
  }
  stop();
  await using ws = await client.websocketConnect("/ws");
  await ws.sendText("y");
  assert.equal(await ws.receiveText(), "y");
});
