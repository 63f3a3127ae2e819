// A room that survives reconnects: every message goes out with its position
// ({ epoch, offset }); a client that comes back sends its last one as
// `?since=epoch:offset` and gets exactly what it missed, then live messages.
// Who is in the room (per user, across tabs and processes) is presence.
//
//   deno serve --port 8000 examples/resume/main.ts              one process
//   REDIS_URL=redis://127.0.0.1:6379 deno serve --allow-env=REDIS_URL \
//     --allow-net --port 8000 examples/resume/main.ts           many
import { App, Path, Query, shutdownOnSignals, str } from "../../mod.ts";
import {
  Broadcast,
  type BroadcastBackend,
  MemoryBackend,
  type StreamPosition,
} from "../../broadcast.ts";

async function backendFromEnv(): Promise<BroadcastBackend> {
  const url = Deno.env.get("REDIS_URL");
  if (url === undefined) return new MemoryBackend();
  // Loaded only when used: the default needs no npm package.
  const { RedisStreamBackend } = await import("../../broadcast_redis.ts");
  return new RedisStreamBackend({ url });
}

const broadcast = new Broadcast(await backendFromEnv());
const app = new App();

// "epoch:offset", as the client sends it back.
function parseSince(value: string | undefined): StreamPosition | undefined {
  if (value === undefined) return undefined;
  const colon = value.lastIndexOf(":");
  const offset = Number(value.slice(colon + 1));
  if (colon < 1 || !Number.isSafeInteger(offset) || offset < 0) {
    return undefined; // not a position: start afresh
  }
  return { epoch: value.slice(0, colon), offset };
}

app.websocket("/rooms/{room}", {
  params: {
    room: Path(),
    user: Query(str),
    since: Query(str, { optional: true }),
  },
}, async (ws, { room, user, since }) => {
  await ws.accept();
  const events = broadcast.subscribe(room, {
    since: parseSince(since),
    signal: ws.signal,
  });
  // In the room (on every process) until the connection ends.
  await broadcast.presence(room).track(user, { since: Date.now() }, {
    signal: ws.signal,
  });
  // recovered: false means what was missed is gone (trimmed, expired, or
  // the history was lost): the client should reload, then go on.
  await ws.sendJson({ type: "hello", recovered: await events.recovered });
  const reading = (async () => {
    for await (const text of ws.iterText()) {
      await broadcast.publish(room, { from: user, text });
    }
  })();
  for await (const { epoch, offset, data } of events) {
    await ws.sendJson({ type: "message", epoch, offset, data });
  }
  await reading.catch(() => {}); // the client left
});

app.get(
  "/rooms/{room}/presence",
  { params: { room: Path() } },
  async (_request, { room }) => {
    const here = broadcast.presence(room);
    return { stats: await here.stats(), users: await here.list() };
  },
);

if (import.meta.main) {
  shutdownOnSignals(app, { afterShutdown: () => broadcast.close() });
}

export { broadcast };
export default app;
