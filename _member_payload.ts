// What a member's socket is sent for one publication: the one place where a
// publication becomes a frame, so history replay and live delivery frame
// alike. A member on a raw route gets the payload as published (text, bytes,
// or JSON text). A member on a protocol route gets a published JSON object
// (`{"type", "data"}`) in the envelope of the wire format: `channel`, and
// `epoch` and `offset` with a backend that keeps history; the typed client
// keeps them to resume after a reconnect (see _protocol_wire.ts).
import type { BroadcastMessage, StreamPosition } from "./_broadcast_backend.ts";
import { envelopeText } from "./_protocol_wire.ts";
import { ON_PROTOCOL } from "./_symbols.ts";
import type { WebSocket } from "./websocket.ts";

/**
 * The frames of one publication, made once and shared by every member
 * (on the hot path: a raw member gets the published payload itself, no
 * copy; protocol members share one enveloped text).
 */
export class MemberPayload {
  readonly #channel: string;
  readonly #message: BroadcastMessage;
  readonly #position: StreamPosition | undefined;
  #enveloped: string | undefined;

  constructor(
    channel: string,
    message: BroadcastMessage,
    position: StreamPosition | undefined,
  ) {
    this.#channel = channel;
    this.#message = message;
    this.#position = position;
  }

  /** The frame for `ws`. */
  for(ws: WebSocket): string | Uint8Array {
    const message = this.#message;
    if (message.kind !== "json" || !ws[ON_PROTOCOL]()) return message.data;
    return this.#enveloped ??= envelopeText(
      message.data,
      this.#channel,
      this.#position,
    );
  }
}
