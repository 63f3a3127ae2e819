// A chat participant for the tests of examples/chat: the typed client,
// with what it received kept as lines ("Alice: hi", "Bob joined").
import {
  connect,
  type ProtocolClient,
  type WebSocketConstructor,
} from "../client.ts";
import { chat } from "../examples/chat/protocol.ts";

export class Member {
  readonly lines: string[] = [];
  readonly #client: ProtocolClient<typeof chat>;
  readonly #waiters = new Set<() => void>();
  readonly #pump: Promise<void>;

  private constructor(client: ProtocolClient<typeof chat>) {
    this.#client = client;
    this.#pump = this.#read();
  }

  /** Joins as `name` at `base` (`ws://host:port`). */
  static async join(
    base: string,
    name: string,
    WebSocket?: WebSocketConstructor,
  ): Promise<Member> {
    const url = new URL("/ws", base);
    url.searchParams.set("name", name);
    return new Member(await connect(chat, url, { WebSocket }));
  }

  async #read(): Promise<void> {
    for await (const m of this.#client.messages()) {
      this.lines.push(
        m.type === "said"
          ? `${m.data.from}: ${m.data.text}`
          : m.type === "error"
          ? `error: ${m.error.message}`
          : `${m.data.name} ${m.type}`,
      );
      for (const waiter of this.#waiters) waiter();
    }
  }

  say(text: string): Promise<void> {
    return this.#client.emit("say", { text });
  }

  /** Resolves once `line` has arrived (now or before); rejects after `ms`. */
  async expect(line: string, ms = 5000): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const check = () => {
      if (this.lines.includes(line)) resolve();
    };
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `"${line}" did not arrive; got ${JSON.stringify(this.lines)}`,
          ),
        ),
      ms,
    );
    this.#waiters.add(check);
    check();
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(check);
    }
  }

  async close(): Promise<void> {
    await this.#client.close();
    await this.#pump;
  }
}
