// This library as in wsapi.ts, instrumented with `instrument()` and no
// exporter (OTEL_DENO unset): what the instrumentation itself costs.
import { App } from "../../mod.ts";
import { Broadcast } from "../../broadcast.ts";
import { instrument } from "../../otel.ts";
import { serve, stats } from "./_serve.ts";

const app = new App({ allowedOrigins: "*" });
instrument(app);
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
