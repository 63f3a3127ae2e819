// The benchmark's pieces keep working: every server answers every workload
// of the load generator, briefly, with figures that make sense. (What the
// figures are is for `deno task bench`; here only that they exist.)
import assert from "node:assert/strict";
import { spawnServer } from "../bench/_spawn.ts";

const HERE = new URL("../bench/", import.meta.url).pathname;

async function withServer(
  name: string,
  test: (port: number, pid: number) => Promise<void>,
): Promise<void> {
  const server = await spawnServer(Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    "--v8-flags=--expose-gc",
    `${HERE}servers/${name}.ts`,
  ]);
  try {
    await test(server.port, server.pid);
  } finally {
    await server.stop();
  }
}

async function load(
  port: number,
  pid: number,
  workload: string,
  ...extra: string[]
): Promise<Record<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-run=cat",
      `${HERE}load.ts`,
      `--workload=${workload}`,
      `--url=ws://127.0.0.1:${port}`,
      "--seconds=0.2",
      "--warmup=0.1",
      `--pid=${pid}`,
      ...extra,
    ],
    stderr: "inherit",
  }).output();
  assert.ok(out.success, `load generator failed on ${workload}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim());
}

for (const server of ["raw", "wsapi", "hono"]) {
  Deno.test(`bench: the ${server} server runs every workload`, async () => {
    await withServer(server, async (port, pid) => {
      const echo = await load(port, pid, "echo");
      assert.ok(echo.messagesPerSecond > 0);
      assert.ok(echo.loadCpu > 0);
      // (What the table's server CPU per message is computed from.)
      assert.ok(echo.serverCpu > 0);
      const latency = await load(port, pid, "latency");
      assert.ok(latency.roundTrips > 0);
      assert.ok(0 < latency.p50Ms && latency.p50Ms <= latency.p99Ms);
      const connect = await load(port, pid, "connect");
      assert.ok(connect.connectionsPerSecond > 0);
      const rawClient = await load(port, pid, "connect", "--client=raw");
      assert.ok(rawClient.connectionsPerSecond > 0);
      const idle = await load(port, pid, "idle", "--connections=200");
      assert.equal(idle.connections, 200);
      assert.ok(idle.rss > 0);
      const browser = await load(
        port,
        pid,
        "idle",
        "--connections=50",
        "--headers=browser",
      );
      assert.equal(browser.connections, 50);
      const broadcast = await load(
        port,
        pid,
        "broadcast",
        "--connections=20",
      );
      assert.ok(broadcast.deliveriesPerSecond > 0);
      assert.ok(broadcast.p99Ms >= broadcast.p50Ms);
      // Far under what the server fans out: everything arrives.
      const overload = await load(
        port,
        pid,
        "overload",
        "--connections=10",
        "--rate=50",
      );
      assert.equal(overload.sent, 10);
      assert.equal(overload.deliveredShare, 1);
      assert.equal(overload.connectionsLost, 0);
      assert.ok(overload.serverPeakRss > 0);
      const rawMembers = await load(
        port,
        pid,
        "overload",
        "--connections=10",
        "--rate=50",
        "--client=raw",
      );
      assert.equal(rawMembers.deliveredShare, 1);
      assert.equal(rawMembers.connectionsLost, 0);
    });
  });
}

Deno.test("bench: the wsapi server runs the protocol workload on both routes", async () => {
  await withServer("wsapi", async (port, pid) => {
    const figures = await load(port, pid, "protocol");
    assert.ok(figures.jsonMessagesPerSecond > 0);
    assert.ok(figures.protocolMessagesPerSecond > 0);
    assert.ok(figures.protocolRatio > 0);
  });
});
