// The third WebSocket tutorial of FastAPI's docs, on Deno: several clients
// chat; each message goes to everyone, and everyone hears when one leaves.
// The tutorial keeps its connections in one list, so it works in one process
// only; here a Broadcast carries the messages, and the backend is one
// environment variable away:
//
//   deno task start                                       one process
//   BROADCAST=broadcastchannel deno serve --parallel ...  every core
//   BROADCAST=redis REDIS_URL=redis://host:6379 ...       many machines
import { App, shutdownOnSignals, WebSocketDisconnect } from "../../mod.ts";
import {
  Broadcast,
  type BroadcastBackend,
  BroadcastChannelBackend,
  MemoryBackend,
} from "../../broadcast.ts";

const html = `<!DOCTYPE html>
<html>
  <head>
    <title>Chat</title>
  </head>
  <body>
    <h1>WebSocket Chat</h1>
    <h2>Your ID: <span id="ws-id"></span></h2>
    <form action="" onsubmit="sendMessage(event)">
      <input type="text" id="messageText" autocomplete="off"/>
      <button>Send</button>
    </form>
    <ul id='messages'>
    </ul>
    <script>
      var client_id = Date.now()
      document.querySelector("#ws-id").textContent = client_id;
      var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/" + client_id);
      ws.onmessage = function(event) {
        var messages = document.getElementById('messages')
        var message = document.createElement('li')
        var content = document.createTextNode(event.data)
        message.appendChild(content)
        messages.appendChild(message)
      };
      function sendMessage(event) {
        var input = document.getElementById("messageText")
        ws.send(input.value)
        input.value = ''
        event.preventDefault()
      }
    </script>
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

const broadcast = new Broadcast(await backendFromEnv());
const app = new App();

app.get(
  "/",
  () =>
    new Response(html, {
      headers: { "content-type": "text/html; charset=utf-8" },
    }),
);

app.websocket("/ws/{client_id:int}", async (ws) => {
  const clientId = ws.pathParams.client_id as number;
  await ws.accept();
  await broadcast.join("chat", ws);
  try {
    while (true) {
      const data = await ws.receiveText();
      await ws.sendText(`You wrote: ${data}`);
      await broadcast.publish("chat", `Client #${clientId} says: ${data}`);
    }
  } catch (error) {
    if (!(error instanceof WebSocketDisconnect)) throw error;
    await broadcast.publish("chat", `Client #${clientId} left the chat`);
  }
});

// Only when run, not when a test imports the app: on Ctrl-C close the
// sockets, then the broadcast (an open BroadcastChannel or Redis connection
// would keep the process alive).
if (import.meta.main) {
  shutdownOnSignals(app, { afterShutdown: () => broadcast.close() });
}

export { broadcast };
export default app;
