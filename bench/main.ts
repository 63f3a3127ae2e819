// The WebSocket benchmark: this library against the ceiling (raw
// Deno.serve + Deno.upgradeWebSocket) and against Hono's Deno helper, side
// by side. Each measurement starts a fresh server process (pinned to core 0
// when `taskset` exists) and a fresh load generator (core 1); the servers
// take turns within every round, and each figure is the median of the
// rounds, printed with its ratio to raw Deno.
//
//   deno task bench              short run (under 2 minutes)
//   deno task bench:full         longer windows, more rounds, 10,000 idle connections, (F)
//   deno task bench --workloads=idle --idle=5000,15000   (D) at other counts
//   deno task bench --servers=raw,wsapi --workloads=echo,latency --rounds=5
//   deno task bench --workloads=idle --headers=browser   clients send 14 headers
//   deno task bench --servers=wsapi,wsapi_otel --workloads=echo,connect   instrument() on, no exporter
//   deno task bench --workloads=overload --members=50 --rate=200 --seconds=1   a small smoke run
//   deno task bench --workloads=overload --overload-client=deno   members as Deno WebSockets
//   deno task bench --workloads=connect --connect-client=deno --load-processes=3
//                                 (C) with Deno's own client, from 3 processes
//   deno task bench --baseline=REV --servers=raw,wsapi   this library against
//                                 itself at git revision REV (server "baseline")
import { parseArgs } from "node:util";
import { type SpawnedServer, spawnServer } from "./_spawn.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    full: { type: "boolean", default: false },
    servers: { type: "string", default: "raw,wsapi,hono" },
    // (The full run adds overload: see WORKLOADS.)
    workloads: { type: "string" },
    rounds: { type: "string" },
    seconds: { type: "string" },
    json: { type: "string" },
    headers: { type: "string", default: "minimal" },
    members: { type: "string", default: "500" },
    "connect-client": { type: "string", default: "raw" },
    "overload-client": { type: "string", default: "raw" },
    "load-processes": { type: "string", default: "1" },
    rate: { type: "string", default: "1000" },
    baseline: { type: "string" },
    idle: { type: "string" },
  },
});

const FULL = values.full;
const ROUNDS = Number(values.rounds ?? (FULL ? 5 : 3));
const SECONDS = Number(values.seconds ?? (FULL ? 3 : 1.5));
const WARMUP = FULL ? 1 : 0.5;
const SERVERS = values.servers.split(",");
const HERE = new URL(".", import.meta.url).pathname;
// --baseline=REV: the library as it was at REV, extracted from git into a
// git-ignored folder beside this file and served by its own servers/wsapi.ts
// (with its own deno.json), so that before and after take turns in one run.
const BASELINE = values.baseline === undefined
  ? undefined
  : await extractBaseline(values.baseline);
if (BASELINE !== undefined) SERVERS.push("baseline");
const WORKLOADS = (values.workloads ??
  `echo,latency,connect,idle,broadcast,protocol${FULL ? ",overload" : ""}`)
  .split(",");

interface Workload {
  title: string;
  /** The figures to report: key, label, unit, and whether more is better. */
  figures: [key: string, label: string, unit: string, higher: boolean][];
  rounds: number;
  /** The measurement window, when it is not --seconds. */
  seconds?: number;
  /** Options for the load generator. */
  extra?: string[];
  /** Load generators run side by side; their rates add up. @default {1} */
  processes?: number;
  /**
   * A rate, and the figure that gets the server's CPU time per unit of it:
   * the server's own cost, which holds even when the load generator is the
   * limit.
   */
  cost?: [rate: string, key: string];
  /** Only these servers have what it measures. */
  servers?: string[];
}

const IDLE = values.idle !== undefined
  ? values.idle.split(",").map(Number)
  : FULL
  ? [5000, 10000]
  : [5000];
if (IDLE.some((n) => !Number.isSafeInteger(n) || n < 1)) {
  throw new Error(
    `Cannot run (D): --idle must list connection counts like 5000,15000, got "${values.idle}"`,
  );
}
const CATALOGUE: Record<string, Workload> = {
  echo: {
    title: "(A) echo throughput, 50 connections x 10 in flight, 64 B text",
    figures: [
      ["messagesPerSecond", "messages/s", "", true],
      ["cpuPerMessage", "server CPU/msg", "µs", false],
    ],
    rounds: ROUNDS,
    cost: ["messagesPerSecond", "cpuPerMessage"],
  },
  latency: {
    title: "(B) latency, 1 connection, 1 in flight",
    figures: [
      ["p50Ms", "p50", "ms", false],
      ["p99Ms", "p99", "ms", false],
    ],
    // p99 moves by ±30-50% from round to round on a shared VM: the full run
    // takes the median of more rounds.
    rounds: FULL && values.rounds === undefined ? 9 : ROUNDS,
  },
  connect: {
    title: `(C) connection rate: handshake + one echo + close, 16 at a time, ${
      values["connect-client"]
    } client x ${values["load-processes"]} process(es)`,
    figures: [
      ["connectionsPerSecond", "connections/s", "", true],
      ["cpuPerConnection", "server CPU/conn", "µs", false],
    ],
    // At least 5 rounds: the figure is compared with raw Deno's to within
    // 5 %, on a machine whose speed moves more than that between rounds.
    rounds: values.rounds === undefined ? Math.max(ROUNDS, 5) : ROUNDS,
    cost: ["connectionsPerSecond", "cpuPerConnection"],
    // The raw client costs a fraction of Deno's per connection, so that the
    // server's core, not the load generator, is the limit (see load.ts);
    // with more cores, more processes.
    extra: [`--client=${values["connect-client"]}`],
    processes: Number(values["load-processes"]),
  },
  idle: {
    title: `(D) idle connections (${
      IDLE.join(", ")
    }): server memory per connection`,
    figures: IDLE.flatMap((n): Workload["figures"] => [
      [`rssPerConnection${n}`, `RSS/conn @${n}`, "KiB", false],
      [`oldRssPerConnection${n}`, `RSS-young/conn @${n}`, "KiB", false],
      [`heapPerConnection${n}`, `heap/conn @${n}`, "KiB", false],
    ]),
    rounds: FULL ? 3 : 1,
  },
  broadcast: {
    title: "(E) broadcast: 500 clients, one sender, 8 messages in flight",
    figures: [
      ["deliveriesPerSecond", "deliveries/s", "", true],
      ["p99Ms", "p99 delivery", "ms", false],
      ["cpuPerDelivery", "server CPU/delivery", "µs", false],
    ],
    rounds: ROUNDS,
    cost: ["deliveriesPerSecond", "cpuPerDelivery"],
  },
  overload: {
    title:
      `(F) overload: ${values.members} clients in one room, one sending ${values.rate} msg/s of 64 B`,
    figures: [
      ["deliveredShare", "delivered", "%", true],
      ["drainSeconds", "drain after sending", "s", false],
      ["connectionsLost", "connections lost", "", false],
      ["serverPeakRss", "server peak RSS", "MiB", false],
    ],
    rounds: ROUNDS,
    // The figure: 3 s at 1,000 msg/s, 1.5 M deliveries owed.
    seconds: values.seconds === undefined ? 3 : SECONDS,
    extra: [
      `--connections=${values.members}`,
      `--rate=${values.rate}`,
      `--client=${values["overload-client"]}`,
    ],
  },
  protocol: {
    title:
      "(G) protocol echo (say -> said, zod) vs receiveJson/sendJson by hand, same validation; target: at most 1.3x",
    figures: [
      ["jsonCpuPerMessage", "hand-written CPU/msg", "µs", false],
      ["protocolCpuPerMessage", "protocol CPU/msg", "µs", false],
      ["protocolRatio", "protocol/hand-written", "x", false],
    ],
    rounds: ROUNDS,
    servers: ["wsapi"],
  },
};

for (const name of SERVERS) {
  if (!["raw", "wsapi", "hono", "wsapi_otel", "baseline"].includes(name)) {
    throw new Error(
      `--servers: unknown server "${name}": use raw, wsapi, hono, wsapi_otel`,
    );
  }
}
for (const name of WORKLOADS) {
  if (CATALOGUE[name] === undefined) {
    throw new Error(
      `--workloads: unknown workload "${name}": use ${
        Object.keys(CATALOGUE).join(", ")
      }`,
    );
  }
}

const hasTaskset = await new Deno.Command("taskset", {
  args: ["-c", "0", "true"],
})
  .output().then((out) => out.success, () => false);
const cores = navigator.hardwareConcurrency;
const pin = (core: number, args: string[]): [string, string[]] =>
  hasTaskset && cores >= 2
    ? ["taskset", ["-c", String(core), Deno.execPath(), ...args]]
    : [Deno.execPath(), args];

function startServer(name: string): Promise<SpawnedServer> {
  const [command, args] = pin(0, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-env",
    "--v8-flags=--expose-gc",
    name === "baseline"
      ? `${BASELINE}/bench/servers/wsapi.ts`
      : `${HERE}servers/${name}.ts`,
  ]);
  return spawnServer(command, args);
}

async function extractBaseline(revision: string): Promise<string> {
  const git = (args: string[]) =>
    new Deno.Command("git", { args, cwd: `${HERE}..`, stderr: "piped" })
      .output();
  const resolved = await git(["rev-parse", "--verify", `${revision}^{commit}`]);
  if (!resolved.success) {
    throw new Error(
      `Cannot use --baseline=${revision}: git knows no such commit: name a commit, tag or branch`,
    );
  }
  const commit = new TextDecoder().decode(resolved.stdout).trim();
  const dir = `${HERE}.baseline/${commit.slice(0, 12)}`;
  const exists = await Deno.stat(`${dir}/bench/servers/wsapi.ts`).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await Deno.mkdir(dir, { recursive: true });
    const archive = await git(["archive", "--format=tar", commit]);
    const tar = new Deno.Command("tar", {
      args: ["-x", "-C", dir],
      stdin: "piped",
    }).spawn();
    const writer = tar.stdin.getWriter();
    await writer.write(archive.stdout);
    await writer.close();
    if (!archive.success || !(await tar.status).success) {
      throw new Error(
        `Cannot use --baseline=${revision}: extracting ${commit} into ${dir} failed`,
      );
    }
  }
  return dir;
}

async function load(
  server: SpawnedServer,
  workload: string,
  extra: string[],
): Promise<Record<string, number>> {
  const [command, args] = pin(1, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=cat",
    `${HERE}load.ts`,
    `--workload=${workload}`,
    `--url=ws://127.0.0.1:${server.port}`,
    `--seconds=${CATALOGUE[workload].seconds ?? SECONDS}`,
    `--warmup=${WARMUP}`,
    `--pid=${server.pid}`,
    `--headers=${values.headers}`,
    ...extra,
  ]);
  const out = await new Deno.Command(command, { args, stderr: "inherit" })
    .output();
  if (!out.success) throw new Error(`The load generator failed on ${workload}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

async function measure(name: string, workload: string) {
  const runs = workload === "idle"
    ? IDLE.map((n) => ({ n, extra: [`--connections=${n}`] }))
    : [{ n: 0, extra: CATALOGUE[workload].extra ?? [] }];
  const result: Record<string, number> = {};
  for (const { n, extra } of runs) {
    const server = await startServer(name);
    try {
      const processes = CATALOGUE[workload].processes ?? 1;
      const figures = processes === 1
        ? await load(server, workload, extra)
        : combine(
          await Promise.all(
            Array.from(
              { length: processes },
              () => load(server, workload, extra),
            ),
          ),
        );
      if (workload === "idle") {
        result[`rssPerConnection${n}`] = figures.rssPerConnection / 1024;
        result[`oldRssPerConnection${n}`] = figures.oldRssPerConnection / 1024;
        result[`heapPerConnection${n}`] = figures.heapPerConnection / 1024;
      } else Object.assign(result, figures);
      const cost = CATALOGUE[workload].cost;
      if (cost !== undefined) {
        const [rate, key] = cost;
        result[key] = figures.serverCpu * 1e6 / figures[rate];
      }
    } finally {
      await server.stop();
    }
  }
  return result;
}

// Side-by-side load generators: rates and load CPU add up; each measured
// the server over nearly the same window, so its CPU is their mean.
function combine(runs: Record<string, number>[]): Record<string, number> {
  const sum = (key: string) => runs.reduce((total, run) => total + run[key], 0);
  return {
    connectionsPerSecond: sum("connectionsPerSecond"),
    loadCpu: sum("loadCpu"),
    serverCpu: sum("serverCpu") / runs.length,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

const version = Deno.version;
console.log(
  `WebSocket benchmark (${
    FULL ? "full" : "short"
  }): Deno ${version.deno}, V8 ${version.v8}, ` +
    `${cores} cores, ${
      hasTaskset && cores >= 2
        ? "server on core 0, load on core 1"
        : "not pinned"
    }, ` +
    `${ROUNDS} rounds of ${SECONDS} s` +
    (values.headers === "minimal" ? "" : `, ${values.headers} headers`),
);
const started = Date.now();
// results[workload][server] = one figure set per round
const results: Record<string, Record<string, Record<string, number>[]>> = {};
for (const workload of WORKLOADS) {
  results[workload] = {};
  const { rounds } = CATALOGUE[workload];
  const servers = serversOf(workload);
  for (const name of servers) results[workload][name] = [];
  for (let round = 0; round < rounds; round++) {
    // Each round starts with the next server, so none is always first.
    for (let i = 0; i < servers.length; i++) {
      const name = servers[(round + i) % servers.length];
      results[workload][name].push(await measure(name, workload));
    }
  }
  report(workload);
}
console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s in all`);
if (values.json !== undefined) {
  await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
}

function serversOf(workload: string): string[] {
  const only = CATALOGUE[workload].servers;
  return only === undefined
    ? SERVERS
    : SERVERS.filter((name) => only.includes(name));
}

function format(value: number, unit: string): string {
  if (unit === "x") return `${value.toFixed(2)}x`;
  if (unit === "ms") return `${value.toFixed(3)} ms`;
  if (unit === "KiB") return `${value.toFixed(2)} KiB`;
  if (unit === "µs") return `${value.toFixed(value < 10 ? 2 : 1)} µs`;
  if (unit === "%") return `${(value * 100).toFixed(1)} %`;
  if (unit === "MiB") return `${(value / 2 ** 20).toFixed(0)} MiB`;
  if (unit === "s") return `${value.toFixed(1)} s`;
  return Math.round(value).toLocaleString("en-US");
}

function report(workload: string): void {
  const { title, figures } = CATALOGUE[workload];
  console.log(`\n${title}`);
  const rows: string[][] = [[
    "server",
    ...figures.flatMap((
      [, label, , higher],
    ) => [label, `vs raw (${higher ? "higher" : "lower"} is better)`]),
    "server CPU",
    "load CPU",
  ]];
  const raw = results[workload].raw;
  for (const name of serversOf(workload)) {
    const runs = results[workload][name];
    const row = [name];
    for (const [key, , unit] of figures) {
      const values = runs.map((run) => run[key]);
      const value = median(values);
      // The spread over the rounds, so that noise is not read as a difference.
      const spread = values.length > 1 && value > 0
        ? ` ±${
          Math.round(
            (Math.max(...values) - Math.min(...values)) / value * 50,
          )
        }%`
        : "";
      row.push(format(value, unit) + spread);
      const rawValue = raw === undefined
        ? 0
        : median(raw.map((run) => run[key]));
      // (A ratio to raw's 0 connections lost means nothing.)
      row.push(rawValue === 0 ? "-" : `${(value / rawValue).toFixed(2)}x`);
    }
    const serverCpu = median(runs.map((run) => run.serverCpu ?? NaN));
    const loadCpu = median(runs.map((run) => run.loadCpu ?? NaN));
    row.push(Number.isNaN(serverCpu) ? "-" : `${Math.round(serverCpu * 100)}%`);
    row.push(loadCpu > 0 ? `${Math.round(loadCpu * 100)}%` : "-");
    rows.push(row);
    // The server is the limit when it uses its core; say when it is not.
    if (loadCpu > 0.9 && serverCpu < 0.9) {
      row.push("(load generator bound)");
    }
  }
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map((row) => (row[i] ?? "").length))
  );
  for (const row of rows) {
    console.log(
      "  " +
        row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd(),
    );
  }
}
