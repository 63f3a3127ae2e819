// Control of a connection from outside its handler, for sibling modules
// (the app's shutdown, broadcast's slow-member policy). Set by websocket.ts.
import type { HTTPConnection, WebSocket } from "./websocket.ts";

/** Hooks into `WebSocket` internals; not part of the public API. */
export const connectionControl: {
  /**
   * Ends an accepted connection as if it had dropped: the socket closes with
   * `code` and `reason`, the handler's next receive throws
   * `WebSocketDisconnect(code, reason)` after what was already queued, and
   * sends throw it too. Does nothing before accept or after the end.
   */
  end(ws: WebSocket, code: number, reason: string): void;
  /**
   * Makes `accept()` without a subprotocol choose `protocol` (one the client
   * offered). Does nothing for an HTTP connection.
   */
  preferSubprotocol(conn: HTTPConnection, protocol: string): void;
  /**
   * Sends `data` at once if the connection is accepted, open and under its
   * send high-water mark, with no promise; returns whether it did. When it
   * returns false, nothing was sent: use `sendText`/`sendBytes`, which wait or
   * report why.
   */
  sendNow(ws: WebSocket, data: string | Uint8Array): boolean;
  /** Whether the connection is over on both sides (`closed` has settled). */
  settled(ws: WebSocket): boolean;
} = {
  end() {
    throw new Error("websocket.ts did not register its connection control");
  },
  preferSubprotocol() {
    throw new Error("websocket.ts did not register its connection control");
  },
  sendNow() {
    throw new Error("websocket.ts did not register its connection control");
  },
  settled() {
    throw new Error("websocket.ts did not register its connection control");
  },
};
