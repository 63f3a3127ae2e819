// This library, written the way its README shows: a handler per route,
// `Broadcast` for the room.
import { App } from "../../mod.ts";
import { Broadcast } from "../../broadcast.ts";
import { serve, stats } from "./_serve.ts";

const app = new App({ allowedOrigins: "*" });
const hub = new Broadcast();

app.get("/stats", stats);

app.websocket("/echo", async (ws) => {
  await ws.accept();
  for await (const text of ws.iterText()) await ws.sendText(text);
});

app.websocket("/broadcast", async (ws) => {
  await ws.accept();
  await hub.join("room", ws);
  for await (const text of ws.iterText()) await hub.publish("room", text);
});

await serve(app.fetch);
