// The soak (issue 7): thousands of WebSocket connections churning against
// one server process for minutes, with echo traffic. Prints the server's
// heap and RSS (after a forced GC) at the start, middle and end of the
// load, and fails when the heap grew by more than 10% or when any
// connection's dependency cleanup did not run.
//
//   deno task soak                                  (10,000 connections, 5 minutes)
//   deno task soak --connections=2000 --minutes=2
//
// Every connection lives 15 to 45 seconds and sends a message every 2 s,
// then ends one of three ways: the client closes, the server closes (the
// client sends "bye"), or the client vanishes (its TCP connection is reset
// without a close frame). A new connection replaces it at once.
import { parseArgs } from "node:util";
import { spawnServer } from "../bench/_spawn.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "10000" },
    minutes: { type: "string", default: "5" },
  },
});
const CONNECTIONS = positive("connections", values.connections);
const DURATION_MS = positive("minutes", values.minutes) * 60_000;
if (DURATION_MS < 120_000) {
  throw new Error(
    `--minutes must be at least 2 (the first 75 s settle the heap), got ${values.minutes}`,
  );
}
const RAMP_PER_SECOND = 1_000;
const MAX_GROWTH = 0.10;
// Settling before the first measurement: Deno keeps a socket whose client
// vanished until its idle-timeout timer fires (idleTimeout / 2, 60 s by
// default), so the heap reaches its steady state only after that.
const SETTLE_MS = 75_000;
// How long a connection lives, and how often it sends: about 330 new
// connections and 5,000 messages a second at 10,000 connections, half of
// what one core serves, so the soak measures leaks, not overload.
const LIFETIME_MS = [15_000, 45_000];
const SEND_EVERY_MS = 2_000;

function positive(name: string, value: string): number {
  const number = Number(value);
  if (!(number > 0)) {
    throw new Error(`--${name} must be a positive number, got "${value}"`);
  }
  return number;
}

interface Stats {
  heapUsed: number;
  rss: number;
  connections: number;
  setup: number;
  cleanup: number;
  accepted: number;
}

const server = await spawnServer(Deno.execPath(), [
  "run",
  "--allow-net=127.0.0.1",
  "--v8-flags=--expose-gc",
  new URL("./server.ts", import.meta.url).pathname,
], { stderr: "inherit" });
const { port } = server;
const url = `ws://127.0.0.1:${port}/echo`;

async function stats(): Promise<Stats> {
  const response = await fetch(`http://127.0.0.1:${port}/stats`);
  return await response.json();
}

const tally = {
  opened: 0,
  failed: 0,
  echoes: 0,
  wrongEchoes: 0,
  ends: { client: 0, server: 0, vanished: 0 },
  unexpectedCodes: 0,
  // Steps that did not finish within STEP_TIMEOUT_MS, by name.
  stuck: {} as Record<string, number>,
};
const STEP_TIMEOUT_MS = 30_000;

/** `promise`'s value, or `undefined` (counted as stuck at `step`) after the timeout. */
async function within<T>(
  step: string,
  promise: Promise<T>,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      tally.stuck[step] = (tally.stuck[step] ?? 0) + 1;
      resolve(undefined);
    }, STEP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
let stopping = false;
let live = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection's life; resolves when it is over. */
async function connection(): Promise<void> {
  const lifetime = LIFETIME_MS[0] +
    Math.random() * (LIFETIME_MS[1] - LIFETIME_MS[0]);
  const way = Math.floor(Math.random() * 3);
  if (way === 2) return await vanishing(lifetime);
  const socket = new WebSocket(url);
  const opened = Promise.withResolvers<boolean>();
  const closed = Promise.withResolvers<number>();
  // Echoes come back in order; a slow one is still the right one.
  const expected: string[] = [];
  socket.onopen = () => opened.resolve(true);
  socket.onerror = () => opened.resolve(false);
  socket.onclose = (event) => {
    opened.resolve(false);
    closed.resolve(event.code);
  };
  socket.onmessage = (event) => {
    if (event.data === expected.shift()) tally.echoes++;
    else tally.wrongEchoes++;
  };
  const open = await within("open", opened.promise);
  if (open !== true) {
    if (open === false) tally.failed++;
    socket.close();
    return;
  }
  tally.opened++;
  const end = Date.now() + lifetime;
  let n = 0;
  await sleep(Math.random() * SEND_EVERY_MS);
  while (Date.now() < end && !stopping && socket.readyState === 1) {
    const message = `message ${n++}`;
    expected.push(message);
    socket.send(message);
    await sleep(SEND_EVERY_MS);
  }
  if (socket.readyState === 1) {
    if (way === 0) socket.close(1000);
    else socket.send("bye");
  }
  const code = await within(
    way === 0 ? "client close" : "server close",
    closed.promise,
  );
  if (code === undefined) return;
  if (code === 1000) tally.ends[way === 0 ? "client" : "server"]++;
  else tally.unexpectedCodes++;
}

/** A raw TCP client: handshake, some echoes, then a reset (no close frame). */
async function vanishing(lifetime: number): Promise<void> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    tally.failed++;
    return;
  }
  try {
    await conn.write(new TextEncoder().encode(
      `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const buffer = new Uint8Array(4096);
    const n = await within("raw handshake", conn.read(buffer));
    if (n === undefined) return;
    if (
      n === null ||
      !new TextDecoder().decode(buffer.subarray(0, n)).startsWith(
        "HTTP/1.1 101",
      )
    ) {
      tally.failed++;
      return;
    }
    tally.opened++;
    const end = Date.now() + lifetime;
    while (Date.now() < end && !stopping) {
      // One masked text frame "ping" (mask 0: the payload is unchanged).
      await conn.write(
        new Uint8Array([0x81, 0x84, 0, 0, 0, 0, 0x70, 0x69, 0x6e, 0x67]),
      );
      const got = await within("raw echo", conn.read(buffer));
      if (got === undefined) return;
      if (got === null) break;
      tally.echoes++;
      await sleep(SEND_EVERY_MS);
    }
    tally.ends.vanished++;
  } catch {
    tally.failed++;
  } finally {
    // SO_LINGER is not reachable from Deno: closing with unread data in the
    // socket's buffer is what makes the kernel send a reset; without it the
    // server sees a clean FIN without a close frame, which it treats alike.
    conn.close();
  }
}

/** Keeps one slot busy: a connection, then the next, until stopping. */
async function slot(): Promise<void> {
  live++;
  try {
    while (!stopping) await connection();
  } finally {
    live--;
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function report(label: string, s: Stats): void {
  console.log(
    `${label.padEnd(8)} heap ${mib(s.heapUsed).padStart(10)}  rss ${
      mib(s.rss).padStart(10)
    }  connections ${String(s.connections).padStart(6)}  accepted ${
      String(s.accepted).padStart(7)
    }  cleanups ${String(s.cleanup).padStart(7)}  echoes ${tally.echoes}`,
  );
}

console.log(
  `soak: ${CONNECTIONS} connections churning for ${
    DURATION_MS / 60_000
  } min against 127.0.0.1:${port}`,
);
const before = await stats();
report("idle", before);

// Ramp up, then let the churn settle before the first measurement.
const slots: Promise<void>[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  slots.push(slot());
  if (i % RAMP_PER_SECOND === RAMP_PER_SECOND - 1) await sleep(1_000);
}
const started = Date.now();
await sleep(SETTLE_MS);
const start = await stats();
report("start", start);
await sleep(
  Math.max(0, started + (SETTLE_MS + DURATION_MS) / 2 - Date.now()),
);
const middle = await stats();
report("middle", middle);
await sleep(Math.max(0, started + DURATION_MS - Date.now()));
const end = await stats();
report("end", end);

// Stop: every client ends its connection, then every cleanup must have run.
stopping = true;
const waiting = setInterval(
  () => console.log(`stopping: ${live} connections still ending`),
  5_000,
);
await Promise.all(slots);
clearInterval(waiting);
let after = await stats();
for (let i = 0; i < 100 && after.connections > 0; i++) {
  await sleep(100);
  after = await stats();
}
report("after", after);
const exitStarted = Date.now();
// Deno's server.shutdown() also waits for sockets of vanished clients that
// its idle-timeout timers still hold (up to 60 s).
const exit = await server.stop(120_000);
console.log(
  `server exit: ${
    exit.success ? "clean" : `failed (signal ${exit.signal})`
  } after ${((Date.now() - exitStarted) / 1000).toFixed(1)} s`,
);

console.log(
  `clients: ${tally.opened} opened, ${tally.failed} failed, ${tally.echoes} echoes, ` +
    `ends: ${tally.ends.client} client close, ${tally.ends.server} server close, ` +
    `${tally.ends.vanished} vanished, ${tally.unexpectedCodes} other codes`,
);

const problems: string[] = [];
const growth = (end.heapUsed - start.heapUsed) / start.heapUsed;
console.log(
  `heap growth start→end ${(growth * 100).toFixed(1)}% (limit ${
    MAX_GROWTH * 100
  }%), ` +
    `rss ${(((end.rss - start.rss) / start.rss) * 100).toFixed(1)}%`,
);
if (growth > MAX_GROWTH) {
  problems.push(
    `the heap grew ${(growth * 100).toFixed(1)}% under the same load`,
  );
}
if (after.connections !== 0) {
  problems.push(
    `${after.connections} connections still running after the clients left`,
  );
}
if (after.setup !== after.cleanup) {
  problems.push(
    `${after.setup - after.cleanup} dependency cleanups did not run`,
  );
}
if (after.accepted !== tally.opened) {
  problems.push(
    `the server accepted ${after.accepted} connections, the clients opened ${tally.opened}`,
  );
}
if (!exit.success) {
  problems.push("the server did not shut down cleanly within 120 s");
}
if (tally.wrongEchoes > 0) {
  problems.push(`${tally.wrongEchoes} echoes were wrong`);
}
if (tally.failed > 0) problems.push(`${tally.failed} connections failed`);
for (const [step, count] of Object.entries(tally.stuck)) {
  problems.push(
    `${count} connections stuck at "${step}" for ${STEP_TIMEOUT_MS / 1000} s`,
  );
}
if (tally.unexpectedCodes > 0) {
  problems.push(
    `${tally.unexpectedCodes} connections ended with a code other than 1000`,
  );
}
if (problems.length > 0) {
  console.log(`soak FAILED: ${problems.join("; ")}`);
  Deno.exit(1);
}
console.log("soak passed");
