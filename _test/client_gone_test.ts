// Deno's legacy-abort notice and the client that leaves during a slow
// dependency, in a separate process per order of events (Deno prints the
// notice at most once per process, wsapi its line about it too): see
// fixtures/slow_handshake.ts.
import assert from "node:assert/strict";
import { App, Depends } from "@wsapi/wsapi";
import { TestClient } from "@wsapi/wsapi/testing";

const FIXTURE = new URL("fixtures/slow_handshake.ts", import.meta.url).pathname;
const NOTICE =
  "Deno.serve: request.signal aborts on successful responses (legacy behavior)";
const OWN_WARNING = "a warning of the app's own";

async function run(
  steps: string,
  flags = ["--allow-net=127.0.0.1"],
): Promise<{ out: string; err: string[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, FIXTURE, steps],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A hang (an upgrade of a gone client keeps server.shutdown() waiting)
  // must fail the test, not stall it.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, `fixture ${steps} failed or hung:\n${out}${err}`);
    return { out, err: err.split("\n").filter((line) => line !== "") };
  } finally {
    clearTimeout(timer);
  }
}

function outcomes(steps: string): string {
  return steps.split(",").map((step) =>
    ({
      vanish: "noticed 1006",
      served: "served slow value",
      refused: "refused",
    })[step] + "\n"
  ).join("") + "shutdown done\n";
}

// wsapi's line: whose the notice is, why, that it is harmless, and how to
// silence it.
function assertExplanation(line: string | undefined): void {
  assert.ok(line !== undefined, "no line from wsapi");
  assert.match(line, /^wsapi reads request\.signal/);
  assert.match(
    line,
    /notice a WebSocket client that leaves while a dependency is still running/,
  );
  assert.match(line, /harmless/);
  assert.match(line, /--unstable-no-legacy-abort to silence it/);
}

for (
  const steps of [
    "vanish,served,refused",
    "served,vanish,refused",
    "refused,vanish,served",
  ]
) {
  Deno.test(`A client gone during a slow dependency is noticed (1006), and wsapi's line explains Deno's legacy-abort notice before it (${steps})`, async () => {
    const { out, err } = await run(steps);
    assertExplanation(err[0]);
    const notice = err.findIndex((line) => line.startsWith(NOTICE));
    assert.ok(
      notice > 0,
      `Deno's notice is not after wsapi's line:\n${err.join("\n")}`,
    );
    assert.equal(err.filter((line) => line.startsWith("wsapi ")).length, 1);
    // The app's own warnings are printed as they are: one per slow dependency.
    assert.deepEqual(
      err.filter((_, i) => i !== 0 && i !== notice),
      Array(3).fill(OWN_WARNING),
    );
    assert.equal(out, outcomes(steps));
  });
}

Deno.test("With --unstable-no-legacy-abort (and every permission, to read the command line), neither wsapi's line nor Deno's notice is printed, and a client gone is still noticed", async () => {
  const steps = "vanish,served,refused";
  const { out, err } = await run(steps, ["-A", "--unstable-no-legacy-abort"]);
  assert.deepEqual(err, Array(3).fill(OWN_WARNING));
  assert.equal(out, outcomes(steps));
});

Deno.test("With --unstable-no-legacy-abort but not every permission, wsapi cannot tell and prints its line; Deno prints no notice", async () => {
  const steps = "served,vanish,refused";
  const { out, err } = await run(steps, [
    "--allow-net=127.0.0.1",
    "--unstable-no-legacy-abort",
  ]);
  assertExplanation(err[0]);
  assert.deepEqual(err.slice(1), Array(3).fill(OWN_WARNING));
  assert.equal(out, outcomes(steps));
});

Deno.test("Deno itself prints the legacy-abort notice for a plain handler that reads request.signal (what the tests above look for)", async () => {
  const { err } = await run("plain");
  assert.ok(err.some((line) => line.startsWith(NOTICE)), err.join("\n"));
  assert.ok(!err.some((line) => line.startsWith("wsapi ")));
});

Deno.test("The in-memory test client serves a slow dependency without wsapi's line (Deno prints no notice there)", async () => {
  const warnings: unknown[] = [];
  const app = new App({
    logger: { error: console.error, warn: (line) => warnings.push(line) },
  });
  app.websocket("/slow", {
    params: {
      value: Depends(async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return "slow value";
      }),
    },
  }, async (ws, { value }) => {
    await ws.accept();
    await ws.sendText(value);
  });
  await using ws = await new TestClient(app).websocketConnect("/slow");
  assert.equal(await ws.receiveText(), "slow value");
  assert.deepEqual(warnings, []);
});
