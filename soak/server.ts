// The soak's server: an echo route whose generator dependency counts its
// setups and cleanups, and /stats, which forces a full GC and reports memory
// and those counts. Started by soak/main.ts with --v8-flags=--expose-gc.
import { App, Depends } from "../mod.ts";

const counts = { setup: 0, cleanup: 0, accepted: 0 };

const session = Depends(async function* session() {
  counts.setup++;
  try {
    yield counts.setup;
  } finally {
    counts.cleanup++;
  }
});

const app = new App({ allowedOrigins: "*" });

app.websocket("/echo", { params: { session } }, async (ws) => {
  await ws.accept();
  counts.accepted++;
  for await (const text of ws.iterText()) {
    // "bye" asks the server to end the connection (a server-side close).
    if (text === "bye") return;
    await ws.sendText(text);
  }
});

const gc = (globalThis as { gc?: () => void }).gc;

app.get("/stats", () => {
  if (gc === undefined) {
    return new Response("start with --v8-flags=--expose-gc", { status: 500 });
  }
  // Twice: the first collection can leave garbage found only by finalizers.
  gc();
  gc();
  const { heapUsed, rss } = Deno.memoryUsage();
  return Response.json({
    heapUsed,
    rss,
    connections: app.connections,
    ...counts,
  });
});

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen({ port }) {
    console.log(`listening ${port}`);
  },
}, app.fetch);

// The parent closes stdin to stop the server.
for await (const _ of Deno.stdin.readable) {
  // nothing to read
}
await app.shutdown();
await server.shutdown();
