// shutdownOnSignals' one deadline, in a real `deno serve` process: whatever
// hangs after the signal (a handler, the lifespan's end, afterShutdown), the
// process ends by the signal at the deadline and the log says what was
// still running.
import assert from "node:assert/strict";
import { App, shutdownOnSignals } from "../mod.ts";
import { ChatClient, serve } from "./_serve.ts";

interface Stopped {
  status: Deno.CommandStatus;
  /** Milliseconds from the signal to the exit. */
  elapsed: number;
  steps: string[];
  output: string;
}

// Serves the fixture hanging at `hang`, connects one client, sends SIGTERM.
async function stopWhileHanging(
  hang: string,
  env: Record<string, string> = {},
): Promise<Stopped> {
  const server = await serve("_test/fixtures/shutdown_deadline.ts", {
    flags: ["--allow-env=HANG,TIMEOUT_MS"],
    env: { HANG: hang, ...env },
  });
  let status: Deno.CommandStatus;
  let elapsed: number;
  try {
    const client = await ChatClient.open(server.port, "/ws");
    await client.expect("ready");
    const signalled = performance.now();
    status = await server.stop("SIGTERM");
    elapsed = performance.now() - signalled;
    assert.equal((await client.closed).code, 1001);
  } finally {
    status = await server.stop("SIGKILL");
  }
  const steps = [...server.output.matchAll(/step: (.+)/g)].map((m) => m[1]);
  return { status, elapsed: elapsed!, steps, output: server.output };
}

Deno.test("shutdownOnSignals() with a lifespan whose end hangs: the process ends by the signal at the 4 s default, inside Deploy's 5 s, and says what hung", async () => {
  const { status, elapsed, steps, output } = await stopWhileHanging(
    "lifespan",
  );
  // By the signal raised again, not by _serve.ts's SIGKILL after 10 s.
  assert.equal(status.signal, "SIGTERM");
  assert.ok(elapsed >= 4000 - 50, `ended after ${elapsed} ms`);
  assert.ok(elapsed < 5000, `ended after ${elapsed} ms`);
  assert.deepEqual(steps, ["handler saw the close", "lifespan end started"]);
  assert.match(
    output,
    /Cannot shut down cleanly: still running after 4000 ms: the lifespan's end \(its code after the yield\): the process ends without waiting for it/,
  );
});

Deno.test("shutdownOnSignals() with an afterShutdown that hangs: the process ends by the signal at timeoutMs and names afterShutdown", async () => {
  const { status, elapsed, steps, output } = await stopWhileHanging(
    "afterShutdown",
    { TIMEOUT_MS: "1000" },
  );
  assert.equal(status.signal, "SIGTERM");
  assert.ok(elapsed >= 1000 - 50, `ended after ${elapsed} ms`);
  assert.deepEqual(steps, [
    "handler saw the close",
    "lifespan end started",
    "lifespan end",
    "afterShutdown started",
  ]);
  assert.match(
    output,
    /Cannot shut down cleanly: still running after 1000 ms: afterShutdown: the process ends/,
  );
});

Deno.test("shutdownOnSignals() with a handler that hangs: after three quarters of timeoutMs the lifespan's end and afterShutdown still run", async () => {
  const { status, elapsed, steps, output } = await stopWhileHanging(
    "handler",
    { TIMEOUT_MS: "1000" },
  );
  assert.equal(status.signal, "SIGTERM");
  assert.ok(elapsed >= 750 - 50, `ended after ${elapsed} ms`);
  assert.deepEqual(steps, [
    "handler saw the close",
    "lifespan end started",
    "lifespan end",
    "afterShutdown started",
    "afterShutdown done",
  ]);
  assert.match(
    output,
    /App\.shutdown\(\): 1 WebSocket connection\(s\) still running after 750 ms/,
  );
  // Everything after the handlers finished in time: no deadline line.
  assert.doesNotMatch(output, /still running after 1000 ms/);
});

Deno.test("shutdownOnSignals() rejects a timeoutMs that is not a positive number", () => {
  for (const timeoutMs of [0, -1, Number.NaN, Infinity]) {
    assert.throws(
      () => shutdownOnSignals(new App(), { signals: ["SIGUSR2"], timeoutMs }),
      {
        name: "RangeError",
        message:
          `Cannot shut down on signals: timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`,
      },
    );
  }
});
