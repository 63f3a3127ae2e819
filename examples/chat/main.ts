// The third WebSocket tutorial of FastAPI's docs, on Deno: several clients
// chat; each message goes to everyone, and everyone hears when one leaves.
//
//   deno task start                     (deno serve on port 8000)
//
// The connections live in one in-memory list, so this works within one
// process only.
import { App, type WebSocket, WebSocketDisconnect } from "../../mod.ts";
import { shutdownOnSignals } from "../_shutdown.ts";

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

/** The open connections of this process. */
class ConnectionManager {
  readonly active = new Set<WebSocket>();

  async connect(ws: WebSocket): Promise<void> {
    await ws.accept();
    this.active.add(ws);
  }

  disconnect(ws: WebSocket): void {
    this.active.delete(ws);
  }

  async broadcast(message: string): Promise<void> {
    // One slow or departed client must not stop the others.
    await Promise.allSettled(
      [...this.active].map((ws) => ws.sendText(message)),
    );
  }
}

const manager = new ConnectionManager();
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
  await manager.connect(ws);
  try {
    while (true) {
      const data = await ws.receiveText();
      await ws.sendText(`You wrote: ${data}`);
      await manager.broadcast(`Client #${clientId} says: ${data}`);
    }
  } catch (error) {
    if (!(error instanceof WebSocketDisconnect)) throw error;
    manager.disconnect(ws);
    await manager.broadcast(`Client #${clientId} left the chat`);
  }
});

// Only when run, not when a test imports the app.
if (import.meta.main) shutdownOnSignals(app);

export default app;
