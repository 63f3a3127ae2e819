// Runs an example the way users do, `deno serve` in its own process, on
// 127.0.0.1 at a port the OS picks.

export interface Served {
  readonly port: number;
  readonly banner: string;
  /** What the server wrote to stderr after its banner, so far. */
  readonly output: string;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts `deno serve [flags] module`; resolves once it listens. */
export async function serve(
  module: string,
  options: { flags?: string[]; env?: Record<string, string> } = {},
): Promise<Served> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      ...(options.flags ?? []),
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      module,
    ],
    env: { NO_COLOR: "1", ...options.env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  const listening = /Listening on http:\/\/[^:]+:(\d+)\//;
  try {
    const deadline = Date.now() + 30_000;
    while (!listening.test(banner)) {
      if (Date.now() > deadline) {
        throw new Error(`deno serve did not start: ${banner}`);
      }
      const { value, done } = await stderr.read();
      if (done) throw new Error(`deno serve exited: ${banner}`);
      banner += value;
    }
  } catch (error) {
    child.kill("SIGKILL");
    await stderr.cancel();
    await child.status;
    throw error;
  }
  // Keep draining stderr so the child never blocks on a full pipe.
  let output = "";
  const drained = (async () => {
    while (true) {
      const { value, done } = await stderr.read();
      if (done) return;
      output += value;
    }
  })();
  let stopped: Promise<Deno.CommandStatus> | null = null;
  return {
    port: Number(listening.exec(banner)![1]),
    banner,
    get output() {
      return output;
    },
    stop(signal: Deno.Signal = "SIGTERM") {
      stopped ??= (async () => {
        try {
          child.kill(signal);
        } catch {
          // already exited
        }
        // Never hang a test on a process that ignores the signal.
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // exited meanwhile
          }
        }, 10_000);
        const status = await child.status;
        clearTimeout(timer);
        await drained;
        return status;
      })();
      return stopped;
    },
  };
}

/** A chat client over a real socket: collects every message it receives. */
export class ChatClient {
  readonly messages: string[] = [];
  readonly #socket: WebSocket;
  readonly #waiters: { text: string; resolve: () => void }[] = [];
  readonly closed: Promise<CloseEvent>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => socket.onclose = resolve);
    socket.onmessage = (event) => {
      this.messages.push(event.data);
      for (const waiter of [...this.#waiters]) {
        if (event.data === waiter.text) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    };
  }

  static open(port: number, path: string): Promise<ChatClient> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(new ChatClient(socket));
      socket.onerror = () => reject(new Error(`cannot connect to ${path}`));
    });
  }

  send(text: string): void {
    this.#socket.send(text);
  }

  /** Resolves when `text` has arrived (now or before), or rejects after `ms`. */
  async expect(text: string, ms = 5000): Promise<void> {
    if (this.messages.includes(text)) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ text, resolve });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) =>
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `"${text}" did not arrive; got ${JSON.stringify(this.messages)}`,
            ),
          ),
        ms,
      )
    );
    try {
      await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#socket.close(1000);
    await this.closed;
  }
}
