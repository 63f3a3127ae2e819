// Deno's legacy-abort notice and the client that leaves during a slow
// dependency, in a separate process per order of events (Deno prints the
// notice at most once per process): see fixtures/slow_handshake.ts.
import assert from "node:assert/strict";

const FIXTURE = new URL("fixtures/slow_handshake.ts", import.meta.url).pathname;
const NOTICE =
  "request.signal aborts on successful responses (legacy behavior)";

async function run(steps: string): Promise<{ out: string; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", FIXTURE, steps],
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
    return { out, err };
  } finally {
    clearTimeout(timer);
  }
}

for (
  const steps of [
    "vanish,served,refused",
    "served,vanish,refused",
    "refused,vanish,served",
  ]
) {
  Deno.test(`A client gone during a slow dependency is noticed (1006), and Deno's legacy-abort notice is not printed (${steps})`, async () => {
    const { out, err } = await run(steps);
    assert.ok(!(out + err).includes(NOTICE), `the notice was printed:\n${err}`);
    // Every other warning goes through: one from each slow dependency.
    assert.equal(err, "a warning of the app's own\n".repeat(3));
    assert.equal(
      out,
      steps.split(",").map((step) =>
        ({
          vanish: "noticed 1006",
          served: "served slow value",
          refused: "refused",
        })[step] + "\n"
      ).join("") + "shutdown done\n",
    );
  });
}

Deno.test("Deno itself prints the legacy-abort notice for a plain handler that reads request.signal (what the tests above look for)", async () => {
  const { err } = await run("plain");
  assert.ok(err.includes(`Deno.serve: ${NOTICE}`), err);
});
