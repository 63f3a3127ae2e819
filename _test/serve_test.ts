// The examples as users run them: `deno serve --parallel`, then Ctrl-C.
import assert from "node:assert/strict";
import { ChatClient, serve } from "./_serve.ts";

Deno.test("deno serve --parallel runs the echo example, and SIGINT closes clients with 1001", async () => {
  const server = await serve("examples/echo/main.ts", {
    flags: ["--parallel"],
    env: { DENO_JOBS: "2" },
  });
  let status: Deno.CommandStatus;
  try {
    assert.match(server.banner, /with 2 threads/);
    const clients = await Promise.all(
      Array.from({ length: 6 }, () => ChatClient.open(server.port, "/ws")),
    );
    clients.forEach((client, i) => client.send(`m${i}`));
    await Promise.all(
      clients.map((client, i) => client.expect(`Message text was: m${i}`)),
    );
    status = await server.stop("SIGINT");
    const codes = await Promise.all(
      clients.map(async (client) => (await client.closed).code),
    );
    assert.deepEqual(codes, [1001, 1001, 1001, 1001, 1001, 1001]);
  } finally {
    status = await server.stop("SIGKILL");
  }
  // The signal ends the process once every isolate has shut down.
  assert.equal(status.signal, "SIGINT");
});

Deno.test("A handler that accepts at once leaves the request's signal alone: no legacy-abort notice", async () => {
  // Touching request.signal makes Deno create it, abort it with a
  // DOMException at the upgrade, and print a notice about its legacy
  // behaviour. The library watches it only for handshakes that wait.
  const server = await serve("examples/echo/main.ts");
  try {
    const clients = await Promise.all(
      Array.from({ length: 3 }, () => ChatClient.open(server.port, "/ws")),
    );
    clients.forEach((client, i) => client.send(`m${i}`));
    await Promise.all(
      clients.map((client, i) => client.expect(`Message text was: m${i}`)),
    );
    await Promise.all(clients.map((client) => client.close()));
  } finally {
    await server.stop("SIGKILL");
  }
  assert.doesNotMatch(server.output, /legacy behavior/);
  assert.doesNotMatch(server.output, /wsapi reads request\.signal/);
});
