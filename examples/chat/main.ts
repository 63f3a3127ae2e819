// A multi-room-ready chat on a typed protocol (protocol.ts): names, join and
// leave notices, each message shown once, and a page (page.ts, bundled into
// static/chat.js) that says when it has lost the server and reconnects by
// itself. A Broadcast carries the messages, and the backend is one
// environment variable away:
//
//   deno task start                                       one process
//   BROADCAST=broadcastchannel deno serve --parallel ...  every core
//   BROADCAST=redis REDIS_URL=redis://host:6379 ...       many machines
//
// `deno task start` listens on 127.0.0.1 only; pass --host 0.0.0.0 to
// `deno serve` to open it to the network.
import {
  App,
  Query,
  type SendData,
  type SendType,
  shutdownOnSignals,
} from "../../mod.ts";
import {
  Broadcast,
  type BroadcastBackend,
  BroadcastChannelBackend,
  MemoryBackend,
} from "../../broadcast.ts";
import { chat, NAME } from "./protocol.ts";
import script from "./static/chat.js" with { type: "text" };

const html = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>wsapi chat</title>
    <style>
      body { font: 16px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 40rem; padding: 1rem; color: #1d2330; }
      h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
      #status { display: inline-block; padding: .15rem .6rem; border-radius: 1rem; font-size: .85rem; background: #e4e7ee; }
      #status[data-state="open"] { background: #d5f5df; color: #135b2a; }
      #status[data-state="reconnecting"], #status[data-state="closed"], #status[data-state="refused"] { background: #fde2e1; color: #8a1c17; }
      #messages { list-style: none; padding: 0; margin: 1rem 0; min-height: 12rem; border: 1px solid #e4e7ee; border-radius: .5rem; }
      #messages li { padding: .35rem .75rem; }
      #messages li.said .from { font-weight: 600; margin-right: .5rem; }
      #messages li.own { background: #eef4ff; }
      #messages li.notice, #messages li.error { color: #5c6475; font-style: italic; font-size: .9rem; }
      form { display: flex; gap: .5rem; }
      form[hidden] { display: none; }
      input { flex: 1; padding: .4rem .6rem; font: inherit; }
      button { padding: .4rem 1rem; font: inherit; }
    </style>
  </head>
  <body>
    <h1>Chat</h1>
    <span id="status" data-state="idle">Pick a name to join</span>
    <ul id="messages"></ul>
    <form id="join">
      <input id="name" autocomplete="nickname" placeholder="Your name" maxlength="24" required>
      <button>Join</button>
    </form>
    <form id="say" hidden>
      <input id="text" autocomplete="off" placeholder="Message" maxlength="500">
      <button disabled>Send</button>
    </form>
    <script type="module" src="/chat.js"></script>
  </body>
</html>
`;

async function backendFromEnv(): Promise<BroadcastBackend> {
  const kind = Deno.env.get("BROADCAST") ?? "memory";
  switch (kind) {
    case "memory":
      return new MemoryBackend();
    case "broadcastchannel":
      return new BroadcastChannelBackend("chat");
    case "redis": {
      const url = Deno.env.get("REDIS_URL");
      if (url === undefined) {
        throw new Error(
          "BROADCAST=redis needs REDIS_URL, e.g. redis://127.0.0.1:6379",
        );
      }
      // Loaded only when used: the default demo needs no npm package.
      const { RedisBackend } = await import("../../broadcast_redis.ts");
      return new RedisBackend({ url });
    }
    default:
      throw new Error(
        `Unknown BROADCAST=${kind}: use memory, broadcastchannel or redis`,
      );
  }
}

/** A message of the chat protocol, for the room (type-checked). */
function message<T extends SendType<typeof chat>>(
  type: T,
  data: SendData<typeof chat, T>,
) {
  return { type, data };
}

/** The chat app, its rooms carried by `broadcast`. */
export function chatApp(broadcast: Broadcast): App {
  const app = new App();

  app.get(
    "/",
    () =>
      new Response(html, {
        headers: { "content-type": "text/html; charset=utf-8" },
      }),
  );
  app.get(
    "/chat.js",
    () =>
      new Response(script, {
        headers: { "content-type": "text/javascript; charset=utf-8" },
      }),
  );

  app.websocket(
    "/ws",
    { params: { name: Query(NAME) }, protocol: chat },
    async (ws, { name }) => {
      await ws.accept();
      // Everyone in the room gets each message once, the sender included:
      // the page shows its own messages as they come back.
      await broadcast.join("chat", ws);
      await broadcast.publish("chat", message("joined", { name }));
      try {
        for await (const m of ws.messages()) {
          await broadcast.publish(
            "chat",
            message("said", { from: name, text: m.data.text }),
          );
        }
      } finally {
        await broadcast.publish("chat", message("left", { name }));
      }
    },
  );
  return app;
}

const broadcast = new Broadcast(await backendFromEnv());
const app = chatApp(broadcast);

// Only when run, not when a test imports the app: on Ctrl-C close the
// sockets, then the broadcast (an open BroadcastChannel or Redis connection
// would keep the process alive).
if (import.meta.main) {
  shutdownOnSignals(app, { afterShutdown: () => broadcast.close() });
}

export { broadcast };
export default app;
