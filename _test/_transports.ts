// One connection test suite, two transports: the in-memory test client, and
// a real Deno.serve on 127.0.0.1 with Deno's own WebSocket client. A test
// written against `Transport` must observe the same results on both.
import assert from "node:assert/strict";
import { type App, WebSocketDisconnect } from "../mod.ts";
import { TestClient, WebSocketDenialResponse } from "../testing.ts";
import { Disconnect, SocketDriver } from "../_socket_driver.ts";
import { rawHandshake } from "./_raw_client.ts";

/** What a client session can do on either transport. */
export interface ClientSession {
  readonly acceptedSubprotocol: string | null;
  sendText(data: string): Promise<void>;
  sendBytes(data: Uint8Array): Promise<void>;
  sendJson(data: unknown, mode?: "text" | "binary"): Promise<void>;
  receiveText(): Promise<string>;
  receiveBytes(): Promise<Uint8Array>;
  receiveJson(mode?: "text" | "binary"): Promise<unknown>;
  /** Closes and waits until the server has finished with the connection. */
  close(code?: number, reason?: string): Promise<void>;
}

export interface ConnectOptions {
  subprotocols?: string[];
  headers?: Record<string, string>;
}

/** A test's view of one transport, bound to one app. */
export interface Connector {
  connect(path: string, options?: ConnectOptions): Promise<ClientSession>;
  /** Asserts that connecting is refused as a close before accept would be. */
  assertRefused(path: string, code: number, reason?: string): Promise<void>;
  /** Asserts that connecting gets this HTTP response instead of a socket. */
  assertDenied(path: string, status: number, body?: string): Promise<Headers>;
  /** The response headers of an accepted handshake. */
  handshakeHeaders(path: string, options?: ConnectOptions): Promise<Headers>;
  /** Resolves once the app serves no connection. */
  idle(): Promise<void>;
}

export interface Transport {
  name: string;
  run(app: App, test: (connector: Connector) => Promise<void>): Promise<void>;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const NO_LIMITS = {
  maxMessageSize: Infinity,
  maxQueuedMessages: Infinity,
  maxQueuedBytes: Infinity,
  sendHighWaterMark: Infinity,
};

/** The in-memory transport (raiseServerExceptions off: a real client's view). */
export const memory: Transport = {
  name: "memory",
  async run(app, test) {
    const client = new TestClient(app, { raiseServerExceptions: false });
    const connector: Connector = {
      async connect(path, options = {}) {
        const session = await client.websocketConnect(path, options);
        return {
          get acceptedSubprotocol() {
            return session.acceptedSubprotocol;
          },
          sendText: (data) => session.sendText(data),
          sendBytes: (data) => session.sendBytes(data),
          sendJson: (data, mode) => session.sendJson(data, mode),
          receiveText: () => session.receiveText(),
          receiveBytes: () => session.receiveBytes(),
          receiveJson: (mode) => session.receiveJson(mode),
          close: (code, reason) => session.close(code, reason),
        };
      },
      async assertRefused(path, code, reason = "") {
        const error = await client.websocketConnect(path).then(
          () => assert.fail("expected the handshake to be refused"),
          (e) => e,
        );
        assert.ok(error instanceof WebSocketDisconnect);
        assert.ok(!(error instanceof WebSocketDenialResponse));
        assert.equal(error.code, code);
        assert.equal(error.reason, reason);
      },
      async assertDenied(path, status, body) {
        const error = await client.websocketConnect(path).then(
          () => assert.fail("expected a denial response"),
          (e) => e,
        );
        assert.ok(error instanceof WebSocketDenialResponse, String(error));
        assert.equal(error.response.status, status);
        const text = await error.response.text();
        if (body !== undefined) assert.equal(text, body);
        return error.response.headers;
      },
      async handshakeHeaders(path, options = {}) {
        const session = await client.websocketConnect(path, options);
        await session.close();
        return session.responseHeaders;
      },
      idle: () => waitFor(() => app.connections === 0, "idle app"),
    };
    await test(connector);
    await connector.idle();
  },
};

class RealSession implements ClientSession {
  #socket: WebSocket;
  #driver = new SocketDriver(NO_LIMITS);
  #app: App;
  #opened = false;

  // Listeners go on before the socket opens: Deno's client may dispatch the
  // first messages and the close in the same turn as "open".
  constructor(socket: WebSocket, app: App) {
    this.#socket = socket;
    this.#app = app;
    socket.addEventListener("open", () => this.#opened = true, { once: true });
  }

  /** Resolves once open; rejects when the handshake failed. */
  async open(): Promise<this> {
    await this.#driver.attach(this.#socket);
    if (!this.#opened) {
      await this.#driver.closed;
      throw new Error("handshake failed");
    }
    return this;
  }

  get acceptedSubprotocol(): string | null {
    return this.#socket.protocol === "" ? null : this.#socket.protocol;
  }

  async #receive(): Promise<string | Uint8Array> {
    const item = await this.#driver.next();
    if (item instanceof Disconnect) {
      throw new WebSocketDisconnect(item.code, item.reason);
    }
    return item;
  }

  #send(data: string | Uint8Array): Promise<void> {
    const ended = this.#driver.ended;
    if (ended !== null) {
      return Promise.reject(new WebSocketDisconnect(ended.code, ended.reason));
    }
    this.#socket.send(data);
    return Promise.resolve();
  }

  sendText(data: string): Promise<void> {
    return this.#send(data);
  }
  sendBytes(data: Uint8Array): Promise<void> {
    return this.#send(data);
  }
  sendJson(data: unknown, mode: "text" | "binary" = "text"): Promise<void> {
    const text = JSON.stringify(data);
    return this.#send(mode === "text" ? text : new TextEncoder().encode(text));
  }
  async receiveText(): Promise<string> {
    const item = await this.#receive();
    if (typeof item !== "string") throw new TypeError("expected text");
    return item;
  }
  async receiveBytes(): Promise<Uint8Array> {
    const item = await this.#receive();
    if (typeof item === "string") throw new TypeError("expected bytes");
    return item;
  }
  async receiveJson(mode: "text" | "binary" = "text"): Promise<unknown> {
    return JSON.parse(
      mode === "text"
        ? await this.receiveText()
        : new TextDecoder().decode(await this.receiveBytes()),
    );
  }
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#driver.ended === null) this.#socket.close(code, reason);
    await this.#driver.closed;
    await waitFor(() => this.#app.connections === 0, "the handler to finish");
  }
}

/** The real transport: Deno.serve on 127.0.0.1:0 and Deno's WebSocket client. */
export const real: Transport = {
  name: "real",
  async run(app, test) {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      app.fetch,
    );
    const port = server.addr.port;
    const open = (path: string, options: ConnectOptions = {}) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, {
        protocols: options.subprotocols,
        headers: options.headers,
      });
      return new RealSession(socket, app).open();
    };
    const probe = async (path: string, options: ConnectOptions = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      if (options.subprotocols !== undefined) {
        headers["Sec-WebSocket-Protocol"] = options.subprotocols.join(", ");
      }
      const result = await rawHandshake(port, path, headers);
      result.conn.close();
      return result;
    };
    const connector: Connector = {
      async connect(path, options = {}) {
        return await open(path, options);
      },
      async assertRefused(path) {
        await assert.rejects(open(path), /handshake failed/);
        await connector.idle();
        // A real client sees only the status: the code and reason are lost.
        const result = await probe(path);
        assert.equal(result.status, 403);
        assert.equal(result.body, "");
      },
      async assertDenied(path, status, body) {
        await assert.rejects(open(path), /handshake failed/);
        await connector.idle();
        const result = await probe(path);
        assert.equal(result.status, status);
        if (body !== undefined) assert.equal(result.body, body);
        return result.headers;
      },
      async handshakeHeaders(path, options = {}) {
        const result = await probe(path, options);
        assert.equal(result.status, 101);
        return result.headers;
      },
      idle: () => waitFor(() => app.connections === 0, "idle app"),
    };
    try {
      await test(connector);
      await connector.idle();
    } finally {
      await server.shutdown();
    }
  },
};

export const TRANSPORTS: Transport[] = [memory, real];

/**
 * A logger that records instead of printing. wsapi's one line per process
 * about Deno's legacy-abort notice (see _deno.ts) goes to the logger of
 * whichever App first watches a served request's signal, that is of
 * whichever test gets there first: it is kept in `notes`, so that
 * `warnings` holds the same in every order of tests.
 */
export function captureLogger(): {
  errors: unknown[][];
  warnings: unknown[][];
  notes: unknown[][];
  error(...data: unknown[]): void;
  warn(...data: unknown[]): void;
} {
  return {
    errors: [],
    warnings: [],
    notes: [],
    error(...data) {
      this.errors.push(data);
    },
    warn(...data) {
      if (String(data[0]).startsWith("wsapi reads request.signal")) {
        this.notes.push(data);
      } else this.warnings.push(data);
    },
  };
}
