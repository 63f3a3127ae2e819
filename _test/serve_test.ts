// The examples as users run them: `deno serve --parallel`, then Ctrl-C.
import assert from "node:assert/strict";

Deno.test("deno serve --parallel runs the echo example, and SIGINT closes clients with 1001", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--parallel",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "examples/echo/main.ts",
    ],
    env: { DENO_JOBS: "2", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  try {
    // "deno serve: Listening on http://127.0.0.1:PORT/ with 2 threads"
    let banner = "";
    const deadline = Date.now() + 20_000;
    while (!/Listening on http:\/\/[^:]+:(\d+)\//.test(banner)) {
      if (Date.now() > deadline) {
        throw new Error(`deno serve did not start: ${banner}`);
      }
      const { value, done } = await stderr.read();
      if (done) throw new Error(`deno serve exited: ${banner}`);
      banner += value;
    }
    const port = Number(/Listening on http:\/\/[^:]+:(\d+)\//.exec(banner)![1]);
    assert.match(banner, /with 2 threads/);
    const sockets = await Promise.all(
      Array.from(
        { length: 6 },
        (_, i) =>
          new Promise<[WebSocket, string]>((resolve, reject) => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
            ws.onopen = () => ws.send(`m${i}`);
            ws.onmessage = (event) => resolve([ws, event.data]);
            ws.onerror = () => reject(new Error("connect failed"));
          }),
      ),
    );
    assert.deepEqual(
      sockets.map(([, data]) => data).sort(),
      [0, 1, 2, 3, 4, 5].map((i) => `Message text was: m${i}`),
    );
    const closes = sockets.map(([ws]) =>
      new Promise<number>((resolve) =>
        ws.onclose = (event) => resolve(event.code)
      )
    );
    child.kill("SIGINT");
    assert.deepEqual(await Promise.all(closes), [
      1001,
      1001,
      1001,
      1001,
      1001,
      1001,
    ]);
    // The signal ends the process once every isolate has shut down.
    const status = await child.status;
    assert.equal(status.signal, "SIGINT");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await stderr.cancel();
    await child.stdout.cancel();
    await child.status;
  }
});
