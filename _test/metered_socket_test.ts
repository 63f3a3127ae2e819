// The per-connection meter between the runtime's socket and the driver, and
// its seam for the protocol layer (an over-limit message answered instead
// of closing).
import assert from "node:assert/strict";
import { createSocketPair } from "../testing.ts";
import { MeteredSocket } from "../_metered_socket.ts";
import type { SessionInfo } from "../observer.ts";

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("MeteredSocket: with overLimit set, a message over the rate limit goes to it instead of closing", async () => {
  const [server, client] = createSocketPair();
  const over: number[] = [];
  const ended: number[] = [];
  const closed: SessionInfo[] = [];
  const metered = new MeteredSocket(server, {
    route: "/p",
    rateLimit: { messages: 2, perSeconds: 60 },
    maxLifetimeMs: 0,
    counting: true,
  }, {
    end: (code) => ended.push(code),
    overLimit: (_data, size) => {
      over.push(size);
      return false; // answered by the protocol layer, not delivered
    },
    closed: (info) => closed.push(info),
  }, []);
  const delivered: string[] = [];
  metered.addEventListener("message", (event) => {
    delivered.push((event as MessageEvent).data);
  });
  await tick();
  for (const text of ["a", "bb", "ccc", "dddd"]) client.send(text);
  await tick();
  assert.deepEqual(delivered, ["a", "bb"]);
  assert.deepEqual(over, [3, 4]);
  assert.deepEqual(ended, []);
  client.close(1000, "done");
  await tick();
  await tick();
  assert.equal(closed.length, 1);
  assert.equal(closed[0].code, 1000);
  assert.equal(closed[0].messagesReceived, 2);
  assert.equal(closed[0].bytesReceived, 3);
});
