// What every benchmark server shares: a port chosen by the system and
// printed as "listening PORT", GET /stats (memory after a forced GC), and an
// exit when the parent closes stdin.
import { getHeapSpaceStatistics } from "node:v8";

/**
 * The server's memory after a full GC (needs --v8-flags=--expose-gc): RSS,
 * heap in use, and the size of V8's young generation (empty after the GC,
 * but its pages stay resident; it grows in steps with the allocation rate).
 */
export function stats(): Response {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    return new Response("start with --v8-flags=--expose-gc", { status: 500 });
  }
  gc();
  gc();
  const { rss, heapUsed } = Deno.memoryUsage();
  const youngGeneration = getHeapSpaceStatistics()
    .find((space) => space.space_name === "new_space")?.space_size ?? 0;
  return Response.json({ rss, heapUsed, youngGeneration });
}

/** Serves `handler` on 127.0.0.1 until stdin closes. */
export async function serve(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<void> {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen({ port }) {
      console.log(`listening ${port}`);
    },
  }, handler);
  for await (const _ of Deno.stdin.readable) {
    // Nothing is sent; the end of stdin is the signal to stop.
  }
  await server.shutdown();
}
