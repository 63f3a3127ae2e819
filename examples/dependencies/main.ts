// The second WebSocket tutorial of FastAPI's docs, on Deno: an item ID in the
// path, a session cookie or token query parameter checked by a dependency,
// an optional `q`; plus an authenticated JSON endpoint.
//
//   deno serve --port 8000 examples/dependencies/main.ts
import {
  App,
  bearerFromSubprotocol,
  CLOSE_CODE,
  Cookie,
  Depends,
  int,
  Path,
  Query,
  shutdownOnSignals,
  type StandardSchemaV1,
  WebSocketDisconnect,
  WebSocketException,
  WebSocketRequestValidationError,
} from "../../mod.ts";

const html = `<!DOCTYPE html>
<html>
  <head>
    <title>Chat</title>
  </head>
  <body>
    <h1>WebSocket Chat</h1>
    <form action="" onsubmit="sendMessage(event)">
      <label>Item ID: <input type="text" id="itemId" autocomplete="off" value="foo"/></label>
      <label>Token: <input type="text" id="token" autocomplete="off" value="some-key-token"/></label>
      <button onclick="connect(event)">Connect</button>
      <hr>
      <label>Message: <input type="text" id="messageText" autocomplete="off"/></label>
      <button>Send</button>
    </form>
    <ul id='messages'>
    </ul>
    <script>
      var ws = null;
      function connect(event) {
        var itemId = document.getElementById("itemId")
        var token = document.getElementById("token")
        ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/items/" + itemId.value + "/ws?token=" + token.value);
        ws.onmessage = function(event) {
          var messages = document.getElementById('messages')
          var message = document.createElement('li')
          var content = document.createTextNode(event.data)
          message.appendChild(content)
          messages.appendChild(message)
        };
        event.preventDefault()
      }
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

/** The session cookie, else the token query parameter; neither: close 1008. */
const cookieOrToken = Depends(
  { session: Cookie({ optional: true }), token: Query({ optional: true }) },
  function getCookieOrToken({ session, token }) {
    if (session === undefined && token === undefined) {
      throw new WebSocketException(CLOSE_CODE.PolicyViolation);
    }
    return (session ?? token)!;
  },
);

const app = new App();

app.get(
  "/",
  () =>
    new Response(html, {
      headers: { "content-type": "text/html; charset=utf-8" },
    }),
);

app.websocket("/items/{item_id}/ws", {
  params: {
    itemId: Path({ name: "item_id" }),
    q: Query(int, { optional: true }),
    cookieOrToken,
  },
}, async (ws, { itemId, q, cookieOrToken }) => {
  await ws.accept();
  for await (const data of ws.iterText()) {
    await ws.sendText(
      `Session cookie or query token value is: ${cookieOrToken}`,
    );
    if (q !== undefined) await ws.sendText(`Query parameter q is: ${q}`);
    await ws.sendText(`Message text was: ${data}, for item ID: ${itemId}`);
  }
});

// An authenticated JSON endpoint. A browser sends its token as a subprotocol:
//   new WebSocket("ws://localhost:8000/notes", ["bearer", token])
const USERS: Record<string, string> = {
  "alice-token": "alice",
  "bob-token": "bob",
};

const currentUser = Depends({ token: bearerFromSubprotocol() }, ({ token }) => {
  const user = USERS[token];
  if (user === undefined) {
    throw new WebSocketException(CLOSE_CODE.PolicyViolation, "Unknown token");
  }
  return user;
});

interface Note {
  text: string;
}

/** A Standard Schema validator written by hand: zod or valibot work the same. */
const Note: StandardSchemaV1<unknown, Note> = {
  "~standard": {
    version: 1,
    vendor: "example",
    validate(value) {
      const text = (value as { text?: unknown } | null)?.text;
      if (typeof text !== "string" || text.trim() === "") {
        return {
          issues: [{ message: "Expected a non-empty string", path: ["text"] }],
        };
      }
      return { value: { text } };
    },
  },
};

app.websocket(
  "/notes",
  { params: { user: currentUser } },
  async (ws, { user }) => {
    await ws.accept(); // chooses the "bearer" subprotocol, never the token
    await ws.sendJson({ type: "welcome", user });
    while (true) {
      try {
        const note = await ws.receiveJson(Note);
        await ws.sendJson({ type: "saved", user, text: note.text });
      } catch (error) {
        if (error instanceof WebSocketDisconnect) return;
        if (!(error instanceof WebSocketRequestValidationError)) throw error;
        await ws.sendJson({ type: "error", errors: error.errors });
      }
    }
  },
);

// Only when run, not when a test imports the app.
if (import.meta.main) shutdownOnSignals(app);

export default app;
