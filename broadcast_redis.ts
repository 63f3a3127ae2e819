/**
 * A {@linkcode RedisBackend} for `Broadcast`: messages travel through Redis
 * pub/sub, so every process on every machine that shares the Redis server
 * sees them. Its own entry point (`@wsapi/wsapi/broadcast/redis`) keeps the
 * `redis` npm client out of apps that do not use it.
 *
 * @example Chat across machines
 * ```ts ignore
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import { RedisBackend } from "@wsapi/wsapi/broadcast/redis";
 *
 * const broadcast = new Broadcast(new RedisBackend({ url: "redis://127.0.0.1:6379" }));
 * await broadcast.publish("room", { from: "server-a", text: "hi" });
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
// Named in full, not through an import map: a project that imports this
// file by path (see the README's install section) resolves it too.
// deno-lint-ignore no-import-prefix
import { createClient } from "npm:redis@^4.7";
import type { BroadcastBackend, BroadcastMessage } from "./broadcast.ts";

/** Options of {@linkcode RedisBackend}. */
export interface RedisBackendOptions {
  /** The server, e.g. `redis://user:password@host:6379/0`. */
  url: string;
  /** Prepended to every channel name in Redis. @default {"wsapi:"} */
  prefix?: string;
  /**
   * Longest wait between reconnection attempts while the server is away;
   * attempts start at 50 ms and double.
   *
   * @default {2000}
   */
  maxReconnectDelayMs?: number;
}

type Client = ReturnType<typeof createClient>;

// One byte says what the payload is: the rest is the text (UTF-8) or bytes.
const TEXT = 0x74; // "t"
const BYTES = 0x62; // "b"
const JSON_TEXT = 0x6a; // "j"
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeMessage(message: BroadcastMessage): Buffer {
  const body = message.kind === "bytes"
    ? message.data
    : encoder.encode(message.data);
  // node-redis sends a Buffer as raw bytes.
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = message.kind === "text"
    ? TEXT
    : message.kind === "bytes"
    ? BYTES
    : JSON_TEXT;
  out.set(body, 1);
  return out;
}

function decodeMessage(raw: Uint8Array): BroadcastMessage | null {
  const body = raw.subarray(1);
  switch (raw[0]) {
    case TEXT:
      return { kind: "text", data: decoder.decode(body) };
    case JSON_TEXT:
      return { kind: "json", data: decoder.decode(body) };
    case BYTES:
      // A copy as a plain Uint8Array: Buffer#slice is a view of node-redis's
      // reply buffer.
      return { kind: "bytes", data: new Uint8Array(body) };
    default:
      return null; // not ours: someone else publishes on the channel
  }
}

/**
 * Carries `Broadcast` messages through Redis pub/sub, on two connections
 * (one publishes, one subscribes).
 *
 * - Reconnects by itself after the server restarts and subscribes again.
 * - While the server is away, `publish` rejects with an error saying so:
 *   nothing is queued or dropped silently. Messages published by others in
 *   that time are not received (Redis pub/sub keeps no history).
 * - Order: messages from one publisher arrive in publish order.
 *
 * @example
 * ```ts ignore
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import { RedisBackend } from "@wsapi/wsapi/broadcast/redis";
 *
 * const broadcast = new Broadcast(new RedisBackend({ url: Deno.env.get("REDIS_URL")! }));
 * ```
 */
export class RedisBackend implements BroadcastBackend {
  #url: string;
  #prefix: string;
  #publisher: Client;
  #subscriber: Client;
  #listeners: ((channel: string, message: BroadcastMessage) => void)[] = [];
  #channels = new Map<string, number>();
  #connecting: Promise<void> | null = null;
  #closed = false;

  /**
   * Creates the backend; it connects on first use.
   *
   * @param options The server and the channel prefix.
   * @throws {TypeError} If the URL is not a `redis:` or `rediss:` URL.
   */
  constructor(options: RedisBackendOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      url = new URL("invalid:");
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
      throw new TypeError(
        `Cannot create RedisBackend: ${
          JSON.stringify(options.url)
        } is not a redis:// or rediss:// URL`,
      );
    }
    this.#url = `${url.protocol}//${url.host}`; // no credentials in errors
    this.#prefix = options.prefix ?? "wsapi:";
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    const config = {
      url: options.url,
      // Fail commands at once while disconnected instead of queueing them.
      disableOfflineQueue: true,
      socket: {
        reconnectStrategy: (retries: number) =>
          Math.min(50 * 2 ** Math.min(retries, 10), maxDelay),
      },
    };
    this.#publisher = createClient(config);
    this.#subscriber = createClient(config);
    // Without a listener, node-redis throws connection errors; the state
    // they leave is what `publish` reports.
    this.#publisher.on("error", () => {});
    this.#subscriber.on("error", () => {});
  }

  #connect(): Promise<void> {
    this.#connecting ??= Promise.all([
      this.#publisher.connect(),
      this.#subscriber.connect(),
    ]).then(() => {}, (error) => {
      this.#connecting = null;
      throw new Error(
        `Cannot connect to Redis at ${this.#url}: ${(error as Error).message}`,
        { cause: error },
      );
    });
    return this.#connecting;
  }

  /**
   * Registers a listener and connects.
   *
   * @param listener Receives messages.
   * @throws {Error} If Redis cannot be reached.
   */
  async connect(
    listener: (channel: string, message: BroadcastMessage) => void,
  ): Promise<void> {
    this.#listeners.push(listener);
    await this.#connect();
  }

  /**
   * Subscribes to `channel` in Redis (once, however many ask).
   *
   * @param channel The channel.
   */
  async subscribe(channel: string): Promise<void> {
    const count = this.#channels.get(channel) ?? 0;
    this.#channels.set(channel, count + 1);
    if (count > 0) return;
    await this.#connect();
    await this.#subscriber.subscribe(
      this.#prefix + channel,
      (raw: Uint8Array) => {
        const message = decodeMessage(raw);
        if (message === null) return;
        for (const listener of this.#listeners) listener(channel, message);
      },
      true, // buffers: bytes arrive as sent
    );
  }

  /**
   * Unsubscribes from `channel` when nobody here needs it any more.
   *
   * @param channel The channel.
   */
  async unsubscribe(channel: string): Promise<void> {
    const count = (this.#channels.get(channel) ?? 0) - 1;
    if (count > 0) {
      this.#channels.set(channel, count);
      return;
    }
    this.#channels.delete(channel);
    // By name: node-redis 4 hangs on an unsubscribe without names.
    if (this.#subscriber.isReady) {
      await this.#subscriber.unsubscribe(this.#prefix + channel);
    }
  }

  /**
   * Publishes through Redis; every subscribed process receives it, this one
   * included.
   *
   * @param channel The channel.
   * @param message The message.
   * @throws {Error} If Redis is not connected: the message was not sent.
   */
  async publish(channel: string, message: BroadcastMessage): Promise<void> {
    if (this.#closed) {
      throw new Error(
        `Cannot publish to "${channel}": the Redis backend is closed`,
      );
    }
    await this.#connect();
    if (!this.#publisher.isReady) {
      throw new Error(
        `Cannot publish to "${channel}": Redis at ${this.#url} is not connected (reconnecting): the message was not sent; retry once it is back`,
      );
    }
    try {
      await this.#publisher.publish(
        this.#prefix + channel,
        encodeMessage(message),
      );
    } catch (error) {
      throw new Error(
        `Cannot publish to "${channel}": Redis at ${this.#url} failed: ${
          (error as Error).message
        }: the message may not have been sent`,
        { cause: error },
      );
    }
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners = [];
    for (const client of [this.#subscriber, this.#publisher]) {
      if (client.isOpen) await client.disconnect();
    }
  }
}
