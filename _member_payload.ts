// What a member's socket is sent for one publication. Today a member gets the
// payload as published (text, bytes, or JSON text), with no envelope. This is
// the one place where a publication becomes frames: protocol routes will put
// `channel`, `epoch` and `offset` around it here (the typed client reads them
// to resume), so history replay and live delivery frame alike.
import type { BroadcastMessage, StreamPosition } from "./_broadcast_backend.ts";
import type { WebSocket } from "./websocket.ts";

/**
 * The frame for `ws`. Called for every member and every message, on the hot
 * path: for a raw member it returns the published payload itself, no copy.
 */
export function memberPayload(
  _ws: WebSocket,
  _channel: string,
  message: BroadcastMessage,
  _position: StreamPosition | undefined,
): string | Uint8Array {
  return message.data;
}
