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
    rate: { type: "string", default: "1000" },
    client: { type: "string", default: "deno" },
    concurrency: { type: "string", default: "16" },
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

/**
 * (C) Connection rate: handshake, one echo, close; 16 at a time. With
 * `--client=raw` each cycle goes over raw TCP (see rawCycle).
 */
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
  const raw = values.client === "raw";
  if (!raw && values.client !== "deno") {
    throw new Error(`--client must be deno or raw, got "${values.client}"`);
  }
  const worker = async () => {
    const buffer = new Uint8Array(4096);
    while (!stop) {
      if (raw) {
        await rawCycle(buffer);
        done++;
      } else await cycle();
    }
  };
  const workers = Array.from({ length: Number(values.concurrency) }, worker);
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

// The raw client of (C): a handshake written as one precomputed request,
// the echo's frame pipelined behind it, then a close. It does not check
// Sec-WebSocket-Accept or parse more than it must, so that it costs far less
// per connection than Deno's WebSocket and the server's core is the limit.
const port = Number(base.slice(base.lastIndexOf(":") + 1));
const RAW_REQUEST = (() => {
  const head = new TextEncoder().encode(
    `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      `Sec-WebSocket-Version: 13\r\n\r\n`,
  );
  // A masked text frame (mask 0: the payload as is) and a close frame.
  const payload = new TextEncoder().encode(PAYLOAD);
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(payload, 6);
  const request = new Uint8Array(head.length + frame.length);
  request.set(head);
  request.set(frame, head.length);
  return request;
})();
const RAW_CLOSE = new Uint8Array([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
// The 101 head ends with CRLF CRLF; the echo (2 + 64 bytes) follows it.
const ECHO_SIZE = 2 + PAYLOAD.length;

async function rawCycle(buffer: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(RAW_REQUEST);
    let length = 0;
    let headEnd = -1;
    while (headEnd === -1 || length < headEnd + ECHO_SIZE) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) throw new Error("connection closed before the echo");
      length += n;
      if (headEnd === -1) {
        for (let i = 3; i < length; i++) {
          if (
            buffer[i] === 10 && buffer[i - 1] === 13 && buffer[i - 2] === 10 &&
            buffer[i - 3] === 13
          ) {
            headEnd = i + 1;
            break;
          }
        }
      }
    }
    if (buffer[9] !== 0x31 || buffer[10] !== 0x30 || buffer[11] !== 0x31) {
      throw new Error("the server did not answer 101");
    }
    await conn.write(RAW_CLOSE);
    // The server's close frame, then the end of the connection.
    while (await conn.read(buffer) !== null) {
      // drained
    }
  } finally {
    conn.close();
  }
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

// The server's peak RSS so far (VmHWM), in bytes, from /proc (Linux only).
async function peakRss(pid: number): Promise<number | undefined> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] })
    .output().catch(() => undefined);
  if (out === undefined || !out.success) return undefined;
  const line = new TextDecoder().decode(out.stdout).split("\n")
    .find((entry) => entry.startsWith("VmHWM:"));
  return line === undefined ? undefined : Number(line.split(/\s+/)[1]) * 1024;
}

/**
 * (F) Overload: 500 clients in one room, one of them sending 64-byte
 * messages at a fixed rate (1,000/s) for the whole window, whatever the
 * server's pace: past what one core fans out. Afterwards the clients get
 * up to a minute to receive what is still on its way (the drain). The share of the
 * deliveries owed (sent x members) that arrived, the connections the server
 * closed or dropped, and the server's peak RSS.
 */
const DRAIN_LIMIT_MS = 60_000;

async function overload() {
  const n = Number(values.connections ?? 500);
  const rate = Number(values.rate);
  const raw = values.client === "raw";
  if (!raw && values.client !== "deno") {
    throw new Error(`--client must be deno or raw, got "${values.client}"`);
  }
  // The sender is always a Deno WebSocket; with --client=raw the other
  // members are raw TCP (see RawMember).
  const sockets: WebSocket[] = [];
  const members: RawMember[] = [];
  for (let i = 0; i < n; i += 100) {
    const size = Math.min(100, n - i);
    if (raw && i > 0) {
      members.push(
        ...await Promise.all(
          Array.from({ length: size }, () => RawMember.open("/broadcast")),
        ),
      );
    } else if (raw) {
      sockets.push(await open("/broadcast"));
      members.push(
        ...await Promise.all(
          Array.from({ length: size - 1 }, () => RawMember.open("/broadcast")),
        ),
      );
    } else {
      sockets.push(
        ...await Promise.all(
          Array.from({ length: size }, () => open("/broadcast")),
        ),
      );
    }
  }
  await sleep(300); // every server has registered its members
  let received = 0;
  const delivered = () =>
    members.reduce((total, member) => total + member.messages, received);
  let lost = 0;
  const closes: Record<string, number> = {};
  let finishing = false;
  for (const socket of sockets) {
    socket.onmessage = () => received++;
    socket.onclose = (event) => {
      if (finishing) return;
      lost++;
      const key = `${event.code} ${event.reason}`.trim();
      closes[key] = (closes[key] ?? 0) + 1;
    };
  }
  const sender = sockets[0];
  const before = serverPid === undefined ? undefined : await peakRss(serverPid);
  let sent = 0;
  const result = await window(async () => {
    // In 10 ms ticks, catching up on the schedule if a tick came late: the
    // rate holds whatever the server does.
    const started = performance.now();
    const total = Math.round(rate * SECONDS);
    while (sent < total) {
      const due = Math.min(
        total,
        Math.floor((performance.now() - started) / 1000 * rate),
      );
      for (; sent < due; sent++) {
        if (sender.readyState !== WebSocket.OPEN) break;
        sender.send(String(sent).padEnd(64, "."));
      }
      if (sender.readyState !== WebSocket.OPEN) break;
      await sleep(10);
    }
    return {};
  });
  const owed = sent * n;
  // A saturated server fans out its backlog long after the sender stopped
  // (1.5 M deliveries at about 100,000/s take 15 s), so the drain gets up to
  // a minute; it ends when all has arrived, or nothing more arrived for 2 s.
  const sendingEnded = performance.now();
  const deadline = Date.now() + DRAIN_LIMIT_MS;
  while (delivered() < owed && Date.now() < deadline) {
    const last = delivered();
    await sleep(2000);
    if (delivered() === last) break;
  }
  const drainSeconds = (performance.now() - sendingEnded) / 1000;
  const peak = serverPid === undefined ? undefined : await peakRss(serverPid);
  finishing = true;
  const share = owed === 0 ? 0 : delivered() / owed;
  lost += members.filter((member) => member.ended).length;
  for (const socket of sockets) socket.onmessage = null;
  await Promise.all([
    closeAll(sockets),
    ...members.map((member) => member.stop()),
  ]);
  return {
    ...result,
    sent,
    deliveredShare: share,
    drainSeconds,
    connectionsLost: lost,
    closes,
    serverPeakRss: peak,
    serverRssBefore: before,
  };
}

/**
 * A member of (F) over raw TCP: it counts the bytes after the 101 and
 * divides by one message's frame (2 + 64 bytes; server frames are not
 * masked), so that 500 members cost the load process a read per batch of
 * messages rather than an event per message.
 */
class RawMember {
  #conn: Deno.TcpConn;
  #bytes = 0;
  #stopping = false;
  #done: Promise<void>;
  /** Whether the server ended the connection before stop(). */
  ended = false;

  private constructor(conn: Deno.TcpConn, rest: number) {
    this.#conn = conn;
    this.#bytes = rest;
    this.#done = this.#read();
  }

  /** Messages received so far. */
  get messages(): number {
    return Math.floor(this.#bytes / ECHO_SIZE);
  }

  static async open(path: string): Promise<RawMember> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    const buffer = new Uint8Array(4096);
    let length = 0;
    while (true) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) throw new Error(`Could not open ${base}${path}`);
      length += n;
      const text = new TextDecoder().decode(buffer.subarray(0, length));
      const end = text.indexOf("\r\n\r\n");
      if (end === -1) continue;
      if (!text.startsWith("HTTP/1.1 101")) {
        conn.close();
        throw new Error(
          `Could not open ${base}${path}: ${text.split("\r\n")[0]}`,
        );
      }
      return new RawMember(conn, length - end - 4);
    }
  }

  async #read(): Promise<void> {
    const buffer = new Uint8Array(256 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.#bytes += n;
      }
    } catch {
      // reset, or closed by stop()
    }
    if (!this.#stopping) this.ended = true;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    try {
      await this.#conn.write(RAW_CLOSE);
      this.#conn.close();
    } catch {
      // already gone
    }
    await this.#done;
  }
}

const workloads: Record<string, () => Promise<object>> = {
  echo,
  protocol,
  latency,
  connect,
  idle,
  broadcast,
  overload,
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
