// A WHATWG-WebSocket-compatible constructor over TestClient's in-memory
// sessions, so that code written for the browser's WebSocket (the typed
// client, a page's script) runs unchanged in tests. Built only on the
// session's public API; the shapes below are what it uses of it.
import { WebSocketDisconnect } from "./errors.ts";
import { isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from "./_close.ts";
import { utf8Exceeds } from "./_utf8.ts";

/** What the constructor uses of a `WebSocketTestSession`. */
export interface SessionLike {
  readonly acceptedSubprotocol: string | null;
  receiveData(): Promise<string | Uint8Array>;
  sendText(data: string): Promise<void>;
  sendBytes(data: Uint8Array): Promise<void>;
  close(code?: number, reason?: string): Promise<void>;
}

/** What the constructor uses of a `TestClient`. */
export interface ClientLike {
  websocketConnect(
    path: string,
    options: { subprotocols?: string[]; headers?: HeadersInit },
  ): Promise<SessionLike>;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

function ignore(): void {}

type Handler<E extends Event> = ((this: WebSocket, event: E) => unknown) | null;

/** A WebSocket class whose instances connect through `client`. */
export function testWebSocketClass(client: ClientLike): typeof WebSocket {
  return class TestWebSocket extends EventTarget implements WebSocket {
    static readonly CONNECTING = CONNECTING;
    static readonly OPEN = OPEN;
    static readonly CLOSING = CLOSING;
    static readonly CLOSED = CLOSED;
    readonly CONNECTING = CONNECTING;
    readonly OPEN = OPEN;
    readonly CLOSING = CLOSING;
    readonly CLOSED = CLOSED;
    readonly url: string;
    readonly extensions = "";
    binaryType: BinaryType = "blob";
    onopen: Handler<Event> = null;
    onmessage: Handler<MessageEvent> = null;
    onerror: Handler<Event> = null;
    onclose: Handler<CloseEvent> = null;
    #readyState: number = CONNECTING;
    #protocol = "";
    #session: SessionLike | null = null;
    #closeRequest: [number, string] | null = null;

    // (Deno's WebSocket also takes { protocols, headers }; so does this.)
    constructor(
      url: string | URL,
      protocolsOrOptions: string | string[] | WebSocketOptions = [],
    ) {
      super();
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new DOMException(
          `Cannot construct WebSocket: ${
            JSON.stringify(String(url))
          } is not a URL`,
          "SyntaxError",
        );
      }
      if (!/^(wss?|https?):$/.test(parsed.protocol) || parsed.hash !== "") {
        throw new DOMException(
          `Cannot construct WebSocket: ${
            JSON.stringify(parsed.href)
          } must be a ws: or wss: URL without a fragment`,
          "SyntaxError",
        );
      }
      const protocols = typeof protocolsOrOptions === "string" ||
          Array.isArray(protocolsOrOptions)
        ? protocolsOrOptions
        : protocolsOrOptions.protocols ?? [];
      const headers = typeof protocolsOrOptions === "object" &&
          !Array.isArray(protocolsOrOptions)
        ? protocolsOrOptions.headers
        : undefined;
      const list = typeof protocols === "string" ? [protocols] : [...protocols];
      if (new Set(list).size !== list.length) {
        throw new DOMException(
          "Cannot construct WebSocket: a subprotocol is offered twice",
          "SyntaxError",
        );
      }
      this.url = parsed.href;
      void this.#run(parsed.pathname + parsed.search, list, headers);
    }

    get readyState(): number {
      return this.#readyState;
    }

    get protocol(): string {
      return this.#protocol;
    }

    // Nothing is buffered: the in-memory pair hands each frame over at once.
    get bufferedAmount(): number {
      return 0;
    }

    #fire(event: Event, handler: Handler<never>): void {
      this.dispatchEvent(event);
      (handler as Handler<Event>)?.call(this, event);
    }

    #ended(code: number, reason: string): void {
      this.#readyState = CLOSED;
      this.#fire(
        new CloseEvent("close", { code, reason, wasClean: code !== 1006 }),
        this.onclose,
      );
    }

    async #run(
      path: string,
      subprotocols: string[],
      headers: HeadersInit | undefined,
    ): Promise<void> {
      let session: SessionLike;
      try {
        session = await client.websocketConnect(path, {
          subprotocols,
          headers,
        });
      } catch (error) {
        // What a browser shows of a refused handshake: an error, then 1006.
        this.#fire(
          new ErrorEvent("error", { error, message: String(error) }),
          this.onerror,
        );
        this.#ended(1006, "");
        return;
      }
      this.#session = session;
      if (this.#closeRequest !== null) {
        // close() during the handshake: the connection fails (WHATWG).
        await session.close(1000).catch(ignore);
        this.#fire(new Event("error"), this.onerror);
        this.#ended(1006, "");
        return;
      }
      this.#protocol = session.acceptedSubprotocol ?? "";
      this.#readyState = OPEN;
      this.#fire(new Event("open"), this.onopen);
      while (true) {
        let data: string | Uint8Array;
        try {
          data = await session.receiveData();
        } catch (error) {
          if (error instanceof WebSocketDisconnect) {
            this.#ended(error.code, error.reason);
          } else {
            // The server's handler failed (raiseServerExceptions).
            this.#fire(
              new ErrorEvent("error", { error, message: String(error) }),
              this.onerror,
            );
            this.#ended(1006, "");
          }
          return;
        }
        if (this.#readyState !== OPEN) continue; // closing: dropped
        this.#fire(
          new MessageEvent("message", {
            data: typeof data === "string"
              ? data
              : this.binaryType === "arraybuffer"
              ? data.slice().buffer
              : new Blob([data.slice()]),
            origin: new URL(this.url).origin,
          }),
          this.onmessage,
        );
      }
    }

    send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (this.#readyState === CONNECTING) {
        throw new DOMException(
          "Cannot send: the WebSocket is still connecting: wait for the open event",
          "InvalidStateError",
        );
      }
      // WHATWG: data sent after close() is discarded silently.
      if (this.#readyState !== OPEN) return;
      const session = this.#session!;
      if (typeof data === "string") {
        session.sendText(data).catch(ignore);
      } else if (data instanceof Blob) {
        data.arrayBuffer().then((buffer) =>
          session.sendBytes(new Uint8Array(buffer))
        ).catch(ignore);
      } else if (ArrayBuffer.isView(data)) {
        session.sendBytes(
          new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
        ).catch(ignore);
      } else {
        session.sendBytes(new Uint8Array(data).slice()).catch(ignore);
      }
    }

    close(code?: number, reason = ""): void {
      if (
        code !== undefined &&
        (code !== 1000 && (code < 3000 || code > 4999) ||
          !isSendableCloseCode(code))
      ) {
        throw new DOMException(
          `Cannot close: code ${code} is neither 1000 nor in 3000-4999`,
          "InvalidAccessError",
        );
      }
      if (utf8Exceeds(reason, MAX_CLOSE_REASON_BYTES)) {
        throw new DOMException(
          `Cannot close: the reason is longer than ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes`,
          "SyntaxError",
        );
      }
      if (this.#readyState >= CLOSING) return;
      const state = this.#readyState;
      this.#readyState = CLOSING;
      this.#closeRequest = [code ?? 1000, reason];
      if (state === OPEN) {
        // The close event comes from the receive loop, with the server's
        // answer; a server error re-thrown here was reported there.
        this.#session!.close(code ?? 1000, reason).catch(ignore);
      }
    }
  };
}
