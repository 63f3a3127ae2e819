// Hono's Deno WebSocket helper, the peer.
import { Hono } from "hono";
import { upgradeWebSocket } from "hono/deno";
import type { WSContext } from "hono/ws";
import { serve, stats } from "./_serve.ts";

const app = new Hono();
const room = new Set<WSContext>();

app.get("/stats", () => stats());

app.get(
  "/echo",
  upgradeWebSocket(() => ({
    onMessage(event, ws) {
      ws.send(event.data as string);
    },
  })),
);

app.get(
  "/broadcast",
  upgradeWebSocket(() => ({
    onOpen(_event, ws) {
      room.add(ws);
    },
    onClose(_event, ws) {
      room.delete(ws);
    },
    onMessage(event, _ws) {
      for (const member of room) {
        if (member.readyState === 1) member.send(event.data as string);
      }
    },
  })),
);

await serve(app.fetch);
