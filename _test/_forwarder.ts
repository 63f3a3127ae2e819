// A TCP forwarder on 127.0.0.1 between a test's client and a server, for
// losing connections the way a network does: each new connection goes to
// the current `target` port; `cut()` drops every live one (no WebSocket
// close frame: the TCP connections just close); while `refusing`, new
// connections are closed at once (a server that is down); while
// `dropping`, bytes are read and thrown away both ways (a phone in a
// tunnel: the server's writes succeed, nothing arrives). Switching
// `target` sends the next connection to another process.

interface Pair {
  close(): void;
  readonly done: Promise<unknown>;
}

export class Forwarder {
  /** The port new connections are forwarded to. */
  target: number;
  /** While true, new connections are closed as soon as they arrive. */
  refusing = false;
  /** While true, live connections swallow what they carry. */
  dropping = false;
  /** Bytes thrown away while `dropping`. */
  dropped = 0;
  /** The target port of every connection forwarded so far, in order. */
  readonly routed: number[] = [];
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #pairs = new Set<Pair>();
  readonly #accepting: Promise<void>;
  // Bumped by cut(): a connection still dialling its target when the cut
  // came is dropped too, rather than surviving it.
  #cuts = 0;

  constructor(target: number) {
    this.target = target;
    this.#accepting = this.#accept();
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    const dialling = new Set<Promise<void>>();
    try {
      for await (const client of this.#listener) {
        if (this.refusing) {
          client.close();
          continue;
        }
        const forwarded = this.#forward(client).finally(() =>
          dialling.delete(forwarded)
        );
        dialling.add(forwarded);
      }
    } catch {
      // close(): the listener is gone.
    }
    await Promise.all(dialling);
  }

  async #forward(client: Deno.TcpConn): Promise<void> {
    const cuts = this.#cuts;
    const target = this.target;
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: target });
    } catch {
      // The target is down: the client sees its connection dropped.
      client.close();
      return;
    }
    if (cuts !== this.#cuts || this.refusing) {
      client.close();
      server.close();
      return;
    }
    this.routed.push(target);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      client.close();
      server.close();
    };
    const pair: Pair = {
      close,
      done: Promise.allSettled([
        this.#copy(client, server).finally(close),
        this.#copy(server, client).finally(close),
      ]),
    };
    this.#pairs.add(pair);
    void pair.done.then(() => this.#pairs.delete(pair));
  }

  /** Closes every live connection through the forwarder, both ways. */
  async cut(): Promise<void> {
    this.#cuts++;
    const pairs = [...this.#pairs];
    this.#pairs.clear();
    for (const pair of pairs) pair.close();
    await Promise.all(pairs.map((pair) => pair.done));
  }

  /** Cuts every connection and stops listening. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    await this.cut();
  }

  async #copy(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) return;
        if (this.dropping) {
          this.dropped += n;
          continue;
        }
        let written = 0;
        while (written < n) {
          written += await to.write(buffer.subarray(written, n));
        }
      }
    } catch {
      // Cut: the other side's close() ended this read or write.
    }
  }
}
