// BroadcastChannelBackend: every isolate of one machine over the web
// BroadcastChannel API; `broadcast.ts` re-exports it.
import type {
  BackendListener,
  BroadcastBackend,
  BroadcastMessage,
} from "./_broadcast_backend.ts";
import { MemoryBackend } from "./_memory_backend.ts";

interface Envelope {
  channel: string;
  message: BroadcastMessage;
}

/**
 * Delivers across isolates of one machine through `BroadcastChannel`:
 * between Workers, and between the isolates of `deno serve --parallel`.
 * (Deno Deploy no longer delivers `BroadcastChannel` across instances: use
 * `RedisBackend` across machines.) Close it on shutdown: an open channel
 * keeps the process alive.
 *
 * @example
 * ```ts
 * import { Broadcast, BroadcastChannelBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const a = new Broadcast(new BroadcastChannelBackend("doc-example"));
 * const b = new Broadcast(new BroadcastChannelBackend("doc-example"));
 * const controller = new AbortController();
 * const events = b.subscribe("news", { signal: controller.signal });
 * await a.publish("news", "from a");
 * assert.deepEqual((await events.next()).value, { channel: "news", data: "from a" });
 * controller.abort();
 * await Promise.all([a.close(), b.close()]);
 * ```
 */
export class BroadcastChannelBackend implements BroadcastBackend {
  #channel: BroadcastChannel;
  // Fan-out within this isolate; positions stay out of it (each isolate
  // would count its own).
  #local = new MemoryBackend({ history: { size: 0 }, warnIfSplit: false });
  #closed = false;

  /**
   * Opens the channel `name`; every backend opened with the same name, in
   * any isolate of the machine, shares messages.
   *
   * @param name The BroadcastChannel name.
   * @default {"wsapi"}
   */
  constructor(name = "wsapi") {
    this.#channel = new BroadcastChannel(name);
    this.#channel.onmessage = (event: MessageEvent<Envelope>) => {
      const { channel, message } = event.data;
      void this.#local.publish(channel, message);
    };
  }

  /**
   * Registers a listener.
   *
   * @param listener Receives messages.
   */
  connect(listener: BackendListener): Promise<void> {
    return this.#local.connect((channel, message) =>
      listener(channel, message)
    );
  }

  /**
   * Starts receiving `channel`.
   *
   * @param channel The channel.
   */
  subscribe(channel: string): Promise<void> {
    return this.#local.subscribe(channel);
  }

  /**
   * Stops receiving `channel`.
   *
   * @param channel The channel.
   */
  unsubscribe(channel: string): Promise<void> {
    return this.#local.unsubscribe(channel);
  }

  /**
   * Posts to the other isolates, and delivers here (a BroadcastChannel does
   * not deliver to its own sender).
   *
   * @param channel The channel.
   * @param message The message.
   * @throws {Error} If the backend is closed.
   */
  publish(channel: string, message: BroadcastMessage): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new Error(
          `Cannot publish to "${channel}": the BroadcastChannel backend is closed`,
        ),
      );
    }
    this.#channel.postMessage({ channel, message } satisfies Envelope);
    return this.#local.publish(channel, message).then(() => {});
  }

  /** Closes the channel. */
  close(): Promise<void> {
    this.#closed = true;
    this.#channel.close();
    return this.#local.close();
  }
}
