// The first WebSocket tutorial of FastAPI's docs, on Deno: a page with a
// form at "/", and an echo endpoint at "/ws".
//
//   deno task echo                      (deno serve on port 8000)
//   deno serve --port 8000 examples/echo/main.ts
//   deno serve --parallel --port 8000 examples/echo/main.ts   (one isolate per core)
import { App, shutdownOnSignals } from "../../mod.ts";

const html = `<!DOCTYPE html>
<html>
  <head>
    <title>Chat</title>
  </head>
  <body>
    <h1>WebSocket Chat</h1>
    <form action="" onsubmit="sendMessage(event)">
      <input type="text" id="messageText" autocomplete="off"/>
      <button>Send</button>
    </form>
    <ul id='messages'>
    </ul>
    <script>
      var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
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

const app = new App();

app.get(
  "/",
  () =>
    new Response(html, {
      headers: { "content-type": "text/html; charset=utf-8" },
    }),
);

app.websocket("/ws", async (ws) => {
  await ws.accept();
  for await (const data of ws.iterText()) {
    await ws.sendText(`Message text was: ${data}`);
  }
});

// Only when run, not when a test imports the app.
if (import.meta.main) shutdownOnSignals(app);

export default app;
