// This library, written the way its README shows: a handler per route,
// `Broadcast` for the room. wsapi_otel.ts serves the same app, instrumented.
import { z } from "zod";
import {
  App,
  defineProtocol,
  WebSocketRequestValidationError,
} from "../../mod.ts";
import { Broadcast } from "../../broadcast.ts";
import { serve, stats } from "./_serve.ts";

/**
 * The benchmark's app; `setUp` runs on it before any route is added (it is
 * where wsapi_otel.ts instruments it).
 */
export function benchApp(setUp: (app: App) => void = () => {}): App {
  const app = new App({ allowedOrigins: "*" });
  setUp(app);
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

  // (G) The same JSON echo twice: declared as a protocol, and by hand with
  // receiveJson/sendJson and the same zod validation both ways.
  const say = z.object({ text: z.string().max(500) });
  const said = z.object({ text: z.string().max(500) });
  const echo = defineProtocol({ receives: { say }, sends: { said } });
  const frame = z.object({ type: z.literal("say"), data: say });

  app.websocket("/protocol", { protocol: echo }, async (ws) => {
    await ws.accept();
    for await (const m of ws.messages()) await ws.emit("said", m.data);
  });

  app.websocket("/json", async (ws) => {
    await ws.accept();
    while (true) {
      let message;
      try {
        message = await ws.receiveJson(frame);
      } catch (error) {
        if (error instanceof WebSocketRequestValidationError) continue;
        if (error instanceof SyntaxError) continue;
        return; // the client left
      }
      await ws.sendJson({ type: "said", data: said.parse(message.data) });
    }
  });
  return app;
}

if (import.meta.main) await serve(benchApp().fetch);
