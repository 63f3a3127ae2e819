// The ceiling: Deno.serve and Deno.upgradeWebSocket with nothing between.
// /echo sends every message back; /broadcast sends every message to every
// connected socket (the sender included).
import { serve, stats } from "./_serve.ts";

const room = new Set<WebSocket>();

await serve((request) => {
  const path = new URL(request.url).pathname;
  if (path === "/stats") return stats();
  if (path === "/echo") {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  }
  if (path === "/broadcast") {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => room.add(socket);
    socket.onclose = () => room.delete(socket);
    socket.onmessage = (event) => {
      for (const member of room) {
        if (member.readyState === WebSocket.OPEN) member.send(event.data);
      }
    };
    return response;
  }
  return new Response("Not Found", { status: 404 });
});
