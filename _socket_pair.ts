// Two connected in-memory sockets that behave like the WHATWG WebSocket:
// messages and the closing handshake are delivered asynchronously and in
// order, `bufferedAmount` counts bytes not yet delivered, `send()` before open
// throws InvalidStateError, a close is echoed by the peer.
import { utf8Length } from "./_utf8.ts";
import type { WebSocketLike } from "./_socket_driver.ts";

// The steps the helpers at the end of this file take on private state.
const LINK: unique symbol = Symbol("wsapi.link");
const OPEN_SOCKET: unique symbol = Symbol("wsapi.openSocket");
const TERMINATE: unique symbol = Symbol("wsapi.terminate");

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/**
 * One end of an in-memory WebSocket connection made by
 * `createSocketPair()`: what one end sends, the other receives as a
 * `message` event, in order and asynchronously, as over a network.
 *
 * @example Exchanging a message
 * ```ts
 * import { createSocketPair } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = createSocketPair();
 * const received = new Promise((resolve) => b.onmessage = (e) => resolve(e.data));
 * a.onopen = () => a.send("ping");
 * assert.equal(await received, "ping");
 * a.close();
 * ```
 */
export class PairedSocket extends EventTarget implements WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readyState: number = CONNECTING;
  /** Bytes sent and not yet delivered to the other end. */
  bufferedAmount = 0;
  /** How binary messages are delivered. @default {"arraybuffer"} */
  binaryType: BinaryType = "arraybuffer";
  /** The subprotocol agreed on, `""` when none. */
  protocol = "";
  /** Always `""`: no extensions are negotiated. */
  readonly extensions = "";
  /** Called on `open`. */
  onopen: ((event: Event) => unknown) | null = null;
  /** Called on `message`. */
  onmessage: ((event: MessageEvent) => unknown) | null = null;
  /** Called on `close`. */
  onclose: ((event: CloseEvent) => unknown) | null = null;
  /** Called on `error`. */
  onerror: ((event: Event) => unknown) | null = null;
  #peer: PairedSocket | null = null;

  /**
   * Queues a message for the other end. Bytes are copied, as a network
   * would: the caller may reuse its buffer.
   *
   * @param data Text or bytes.
   * @throws {DOMException} `InvalidStateError` before the socket is open.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.readyState === CONNECTING) {
      throw new DOMException("'readyState' not OPEN", "InvalidStateError");
    }
    let payload: string | ArrayBuffer;
    let size: number;
    if (typeof data === "string") {
      payload = data;
      size = utf8Length(data);
    } else if (ArrayBuffer.isView(data)) {
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        .slice().buffer;
      size = payload.byteLength;
    } else if (data instanceof ArrayBuffer) {
      payload = data.slice(0);
      size = payload.byteLength;
    } else {
      throw new TypeError(
        "Cannot send: the in-memory socket takes a string, ArrayBuffer or typed array",
      );
    }
    // Like a browser: data sent once closing has started is dropped.
    if (this.readyState !== OPEN) return;
    const peer = this.#peer!;
    this.bufferedAmount += size;
    queueMicrotask(() => {
      this.bufferedAmount -= size;
      peer.#deliver(payload);
    });
  }

  /**
   * Starts the closing handshake; the other end echoes it and both fire
   * `close` with this code and reason.
   *
   * @param code The close code. @default {1005} (no status)
   * @param reason The close reason. @default {""}
   */
  close(code?: number, reason?: string): void {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    if (this.readyState === CONNECTING) {
      this[TERMINATE]();
      return;
    }
    this.readyState = CLOSING;
    const peer = this.#peer!;
    const sent = code ?? 1005;
    const why = reason ?? "";
    queueMicrotask(() => peer.#receiveClose(sent, why));
  }

  #deliver(payload: string | ArrayBuffer): void {
    if (this.readyState !== OPEN && this.readyState !== CLOSING) return;
    const data = typeof payload === "string" || this.binaryType !== "blob"
      ? payload
      : new Blob([payload]);
    this.#emit(new MessageEvent("message", { data }));
  }

  #receiveClose(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    if (this.readyState === OPEN) {
      // The peer started the handshake: echo its close frame.
      this.readyState = CLOSING;
      const peer = this.#peer!;
      queueMicrotask(() => peer.#receiveClose(code, reason));
    }
    this.readyState = CLOSED;
    this.#emit(new CloseEvent("close", { code, reason, wasClean: true }));
  }

  #emit(event: Event): void {
    const handler = this[`on${event.type}` as "onopen"] as
      | ((event: Event) => unknown)
      | null;
    if (typeof handler === "function") handler.call(this, event);
    this.dispatchEvent(event);
  }

  /** @ignore */
  [LINK](peer: PairedSocket): void {
    this.#peer = peer;
    peer.#peer = this;
  }

  /** @ignore */
  [OPEN_SOCKET](): void {
    if (this.readyState !== CONNECTING) return;
    this.readyState = OPEN;
    this.#emit(new Event("open"));
  }

  /** @ignore */
  [TERMINATE](): void {
    for (const end of [this, this.#peer!]) {
      if (end.readyState === CLOSED) continue;
      end.readyState = CLOSED;
      end.#emit(new Event("error"));
      end.#emit(new CloseEvent("close", { code: 1006, wasClean: false }));
    }
  }
}

/** Creates two linked sockets, both CONNECTING. */
export function linkedSockets(): [PairedSocket, PairedSocket] {
  const a = new PairedSocket();
  const b = new PairedSocket();
  a[LINK](b);
  return [a, b];
}

/** Opens both ends, firing `open` on each: server end first. */
export function openSockets(server: PairedSocket, client: PairedSocket): void {
  server[OPEN_SOCKET]();
  client[OPEN_SOCKET]();
}

/**
 * Drops the connection without a closing handshake, as a TCP reset would:
 * both ends fire `error`, then `close` with 1006.
 */
export function terminateSockets(socket: PairedSocket): void {
  socket[TERMINATE]();
}
