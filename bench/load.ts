// The load generator: runs one workload against one server and prints its
// figures as one JSON line. Runs as its own process (bench/main.ts pins it to
// another core than the server's).
//
//   deno run --allow-net=127.0.0.1 --allow-run=cat bench/load.ts \
//     --workload=echo --url=ws://127.0.0.1:8000 --seconds=2 [--pid=SERVER_PID]
import { parseArgs } from "node:util";
import process from "node:process";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    workload: { type: "string" },
    url: { type: "string" },
    seconds: { type: "string", default: "2" },
    warmup: { type: "string", default: "0.5" },
    connections: { type: "string" },
    pid: { type: "string" },
    headers: { type: "string", default: "minimal" },
  },
});

const base = values.url ?? "";
if (!/^ws:\/\/127\.0\.0\.1:\d+$/.test(base)) {
  throw new Error(
    `--url must be ws://127.0.0.1:PORT (load tests stay on this machine), got "${base}"`,
  );
}
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const serverPid = values.pid === undefined ? undefined : Number(values.pid);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PAYLOAD = "x".repeat(64);

/** What every workload reports, besides its own figures. */
interface Window {
  /** Share of one core the server used during the measurement. */
  serverCpu?: number;
  /** Share of one core this process used during the measurement. */
  loadCpu: number;
}

// CPU time of a process in seconds, from /proc (Linux only).
async function processCpu(pid: number): Promise<number | undefined> {
  try {
    // Through cat: Deno grants /proc only with --allow-all.
    const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] })
      .output();
    if (!out.success) return undefined;
    const stat = new TextDecoder().decode(out.stdout);
    // Fields after the command name (which may contain spaces).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime
  } catch {
    return undefined;
  }
}

/** Runs `measure` as the measurement window, timing both processes' CPU. */
async function window<T>(measure: () => Promise<T>): Promise<T & Window> {
  const serverStart = serverPid === undefined
    ? undefined
    : await processCpu(serverPid);
  const loadStart = process.cpuUsage();
  const started = performance.now();
  const result = await measure();
  const elapsed = (performance.now() - started) / 1000;
  const load = process.cpuUsage(loadStart);
  const serverEnd = serverPid === undefined
    ? undefined
    : await processCpu(serverPid);
  return {
    ...result,
    serverCpu: serverStart === undefined || serverEnd === undefined
      ? undefined
      : (serverEnd - serverStart) / elapsed,
    loadCpu: (load.user + load.system) / 1e6 / elapsed,
  };
}

// What every connection sends besides the handshake's own headers: nothing
// (Deno's client: 6 headers in all), or what a browser sends (14 in all).
const HEADER_SETS: Record<string, Record<string, string> | undefined> = {
  minimal: undefined,
  browser: {
    "user-agent":
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    origin: base.replace("ws:", "http:"),
    "cache-control": "no-cache",
    pragma: "no-cache",
    "accept-encoding": "gzip, deflate, br, zstd",
    "accept-language": "en-US,en;q=0.9,de;q=0.8",
    cookie:
      "session=3f2a9c1e7b6d4a8f9e0c1b2a3d4e5f60; theme=dark; _ga=GA1.1.123456789.1700000000",
    "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
  },
};
if (!Object.hasOwn(HEADER_SETS, values.headers)) {
  throw new Error(
    `--headers must be one of ${
      Object.keys(HEADER_SETS).join(", ")
    }, got "${values.headers}"`,
  );
}
const headers = HEADER_SETS[values.headers];

function open(path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(base + path, { headers });
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`Could not open ${base}${path}`));
  });
}

function closeAll(sockets: WebSocket[]): Promise<unknown> {
  return Promise.all(sockets.map((socket) =>
    new Promise((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve(undefined);
      socket.onclose = resolve;
      socket.close();
    })
  ));
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** (A) 50 connections, 10 messages in flight on each, 64-byte text. */
async function echo() {
  const sockets = await Promise.all(
    Array.from({ length: 50 }, () => open("/echo")),
  );
  let received = 0;
  for (const socket of sockets) {
    socket.onmessage = (event) => {
      received++;
      socket.send(event.data);
    };
    for (let i = 0; i < 10; i++) socket.send(PAYLOAD);
  }
  await sleep(WARMUP * 1000);
  const result = await window(async () => {
    const from = received;
    await sleep(SECONDS * 1000);
    return { messagesPerSecond: (received - from) / SECONDS };
  });
  for (const socket of sockets) socket.onmessage = null;
  await closeAll(sockets);
  return result;
}

/** (B) One connection, one message in flight: round-trip latency. */
async function latency() {
  const socket = await open("/echo");
  const samples = new Float64Array(1 << 22);
  let count = 0;
  let recording = false;
  let sentAt = 0;
  socket.onmessage = () => {
    const now = performance.now();
    if (recording && count < samples.length) samples[count++] = now - sentAt;
    sentAt = performance.now();
    socket.send(PAYLOAD);
  };
  sentAt = performance.now();
  socket.send(PAYLOAD);
  await sleep(WARMUP * 1000);
  const result = await window(async () => {
    recording = true;
    await sleep(SECONDS * 1000);
    recording = false;
    const sorted = samples.slice(0, count).sort();
    return {
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      roundTrips: count,
    };
  });
  socket.onmessage = null;
  await closeAll([socket]);
  return result;
}

/** (C) Connection rate: handshake, one echo, close; 16 at a time. */
async function connect() {
  let done = 0;
  let stop = false;
  const cycle = () =>
    new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(base + "/echo");
      socket.onopen = () => socket.send(PAYLOAD);
      socket.onmessage = () => socket.close();
      socket.onclose = () => {
        done++;
        resolve();
      };
      socket.onerror = () => reject(new Error("connection failed"));
    });
  const worker = async () => {
    while (!stop) await cycle();
  };
  const workers = Array.from({ length: 16 }, worker);
  await sleep(WARMUP * 1000);
  const result = await window(async () => {
    const from = done;
    await sleep(SECONDS * 1000);
    return { connectionsPerSecond: (done - from) / SECONDS };
  });
  stop = true;
  await Promise.all(workers);
  return result;
}

async function serverStats(): Promise<
  { rss: number; heapUsed: number; youngGeneration: number }
> {
  const response = await fetch(base.replace("ws:", "http:") + "/stats");
  if (!response.ok) throw new Error(`/stats: ${await response.text()}`);
  return await response.json();
}

/** (D) Idle connections: the server's memory per open connection. */
async function idle() {
  const n = Number(values.connections ?? 5000);
  // Warm the server's code paths first, so the figure is per connection.
  await closeAll(
    await Promise.all(Array.from({ length: 100 }, () => open("/echo"))),
  );
  await sleep(200);
  const before = await serverStats();
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 250) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(250, n - i) }, () => open("/echo")),
    );
    // One echo each: every connection is fully set up on the server.
    await Promise.all(batch.map((socket) =>
      new Promise((resolve) => {
        socket.onmessage = resolve;
        socket.send("ready");
      })
    ));
    sockets.push(...batch);
  }
  await sleep(500);
  const after = await serverStats();
  await closeAll(sockets);
  return {
    connections: n,
    rssPerConnection: (after.rss - before.rss) / n,
    // RSS without V8's young generation, whose growth is a step (it
    // doubles), not a cost per connection.
    oldRssPerConnection: (after.rss - after.youngGeneration -
      (before.rss - before.youngGeneration)) / n,
    heapPerConnection: (after.heapUsed - before.heapUsed) / n,
    rss: after.rss,
    loadCpu: 0,
  };
}

/**
 * (E) Broadcast: 500 clients; one of them sends, at most 8 messages in
 * flight (a message is done when all 500 have it). Deliveries per second,
 * and the delay from send to each delivery.
 */
async function broadcast() {
  const n = Number(values.connections ?? 500);
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 100) {
    sockets.push(
      ...await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, () => open("/broadcast")),
      ),
    );
  }
  await sleep(300); // every server has registered its members
  const WINDOW = 8;
  const RING = 1024;
  const sentAt = new Float64Array(RING);
  const remaining = new Int32Array(RING);
  const delays = new Float64Array(1 << 23);
  let count = 0;
  let recording = false;
  let delivered = 0;
  let next = 0;
  const sender = sockets[0];
  const send = () => {
    const seq = next++;
    sentAt[seq % RING] = performance.now();
    remaining[seq % RING] = n;
    sender.send(String(seq).padEnd(64, "."));
  };
  const onmessage = (event: MessageEvent) => {
    const now = performance.now();
    const seq = parseInt(event.data);
    const slot = seq % RING;
    delivered++;
    if (recording && count < delays.length) {
      delays[count++] = now - sentAt[slot];
    }
    if (--remaining[slot] === 0) send();
  };
  for (const socket of sockets) socket.onmessage = onmessage;
  for (let i = 0; i < WINDOW; i++) send();
  await sleep(WARMUP * 1000);
  const result = await window(async () => {
    const from = delivered;
    recording = true;
    await sleep(SECONDS * 1000);
    recording = false;
    const sorted = delays.slice(0, count).sort();
    return {
      deliveriesPerSecond: (delivered - from) / SECONDS,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
    };
  });
  for (const socket of sockets) socket.onmessage = null;
  await closeAll(sockets);
  return result;
}

/**
 * (G) The echo of (A) with a protocol message, `{"type":"say","data":…}`,
 * on the server's hand-written JSON route, then on its protocol route: the
 * server's CPU per message on each.
 */
async function protocol() {
  const payload = JSON.stringify({
    type: "say",
    data: { text: "x".repeat(32) },
  });
  const result: Record<string, number> = {};
  let loadCpu = 0;
  for (const [name, path] of [["json", "/json"], ["protocol", "/protocol"]]) {
    const sockets = await Promise.all(
      Array.from({ length: 50 }, () => open(path)),
    );
    let received = 0;
    for (const socket of sockets) {
      socket.onmessage = () => {
        received++;
        socket.send(payload);
      };
      for (let i = 0; i < 10; i++) socket.send(payload);
    }
    await sleep(WARMUP * 1000);
    const figures = await window(async () => {
      const from = received;
      await sleep(SECONDS * 1000);
      return { rate: (received - from) / SECONDS };
    });
    for (const socket of sockets) socket.onmessage = null;
    await closeAll(sockets);
    result[`${name}MessagesPerSecond`] = figures.rate;
    result[`${name}CpuPerMessage`] = (figures.serverCpu ?? NaN) * 1e6 /
      figures.rate;
    loadCpu = Math.max(loadCpu, figures.loadCpu);
  }
  result.protocolRatio = result.protocolCpuPerMessage /
    result.jsonCpuPerMessage;
  return { ...result, loadCpu };
}

const workloads: Record<string, () => Promise<object>> = {
  echo,
  protocol,
  latency,
  connect,
  idle,
  broadcast,
};
const run = workloads[values.workload ?? ""];
if (run === undefined) {
  throw new Error(
    `--workload must be one of ${
      Object.keys(workloads).join(", ")
    }, got "${values.workload}"`,
  );
}
console.log(JSON.stringify(await run()));
