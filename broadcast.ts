/**
 * Publish/subscribe for WebSockets, from one process to many machines:
 * {@linkcode Broadcast} fans messages out to local sockets and subscribers,
 * and a backend carries them between processes. {@linkcode MemoryBackend}
 * serves one process, {@linkcode BroadcastChannelBackend} every isolate of
 * one machine (`deno serve --parallel`, Workers), and `RedisBackend` (from
 * `./broadcast/redis`) many machines. Switching is a one-line change.
 *
 * @example A room
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { Broadcast, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const app = new App();
 * app.websocket("/chat", async (ws) => {
 *   await ws.accept();
 *   broadcast.join("room", ws);
 *   for await (const text of ws.iterText()) await broadcast.publish("room", text);
 * });
 * const client = new TestClient(app);
 * await using alice = await client.websocketConnect("/chat");
 * await using bob = await client.websocketConnect("/chat");
 * await alice.sendText("hi all");
 * assert.equal(await bob.receiveText(), "hi all");
 * assert.equal(await alice.receiveText(), "hi all");
 * await broadcast.close();
 * ```
 *
 * @module
 */
import type { WebSocket } from "./websocket.ts";
import { WebSocketState } from "./messages.ts";
import { END, SEND_NOW } from "./_symbols.ts";

/** What may be published: text, bytes, or any JSON value. */
export type BroadcastData = string | Uint8Array | unknown;

/** One message as a backend carries it: its kind, and its encoded payload. */
export type BroadcastMessage =
  | { kind: "text"; data: string }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "json"; data: string };

/**
 * Carries messages between processes. A backend delivers every message
 * published on a channel it is subscribed to (by any process, this one
 * included) to its listeners, in publish order per publisher.
 *
 * @example A backend that logs what passes through
 * ```ts
 * import { type BroadcastBackend, type BroadcastMessage, Broadcast, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * class LoggingBackend implements BroadcastBackend {
 *   readonly log: string[] = [];
 *   #inner = new MemoryBackend();
 *   connect(listener: (channel: string, message: BroadcastMessage) => void) {
 *     return this.#inner.connect(listener);
 *   }
 *   subscribe(channel: string) {
 *     return this.#inner.subscribe(channel);
 *   }
 *   unsubscribe(channel: string) {
 *     return this.#inner.unsubscribe(channel);
 *   }
 *   publish(channel: string, message: BroadcastMessage) {
 *     this.log.push(`${channel}: ${message.kind}`);
 *     return this.#inner.publish(channel, message);
 *   }
 *   close() {
 *     return this.#inner.close();
 *   }
 * }
 * const backend = new LoggingBackend();
 * const broadcast = new Broadcast(backend);
 * await broadcast.publish("news", { headline: "hi" });
 * assert.deepEqual(backend.log, ["news: json"]);
 * await broadcast.close();
 * ```
 */
export interface BroadcastBackend {
  /**
   * Registers the listener that receives every message of the subscribed
   * channels; called once by each `Broadcast` using the backend.
   */
  connect(
    listener: (channel: string, message: BroadcastMessage) => void,
  ): Promise<void>;
  /** Starts receiving `channel`; resolves once messages will arrive. */
  subscribe(channel: string): Promise<void>;
  /** Stops receiving `channel`. */
  unsubscribe(channel: string): Promise<void>;
  /**
   * Publishes; rejects, with an error saying why, when the message cannot
   * be sent: it is never dropped silently.
   */
  publish(channel: string, message: BroadcastMessage): Promise<void>;
  /** Releases the backend's resources. */
  close(): Promise<void>;
}

/**
 * Delivers within one process (the default backend).
 *
 * @example
 * ```ts
 * import { Broadcast, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const controller = new AbortController();
 * const events = broadcast.subscribe("ticks", { signal: controller.signal });
 * await broadcast.publish("ticks", 1);
 * assert.deepEqual((await events.next()).value, { channel: "ticks", data: 1 });
 * controller.abort();
 * await broadcast.close();
 * ```
 */
export class MemoryBackend implements BroadcastBackend {
  #listeners: ((channel: string, message: BroadcastMessage) => void)[] = [];
  #channels = new Map<string, number>();

  /**
   * Registers a listener.
   *
   * @param listener Receives messages.
   */
  connect(
    listener: (channel: string, message: BroadcastMessage) => void,
  ): Promise<void> {
    this.#listeners.push(listener);
    return Promise.resolve();
  }

  /**
   * Starts receiving `channel`.
   *
   * @param channel The channel.
   */
  subscribe(channel: string): Promise<void> {
    this.#channels.set(channel, (this.#channels.get(channel) ?? 0) + 1);
    return Promise.resolve();
  }

  /**
   * Stops receiving `channel`.
   *
   * @param channel The channel.
   */
  unsubscribe(channel: string): Promise<void> {
    const count = (this.#channels.get(channel) ?? 0) - 1;
    if (count <= 0) this.#channels.delete(channel);
    else this.#channels.set(channel, count);
    return Promise.resolve();
  }

  /**
   * Delivers to the listeners, synchronously, if anyone is subscribed.
   *
   * @param channel The channel.
   * @param message The message.
   */
  publish(channel: string, message: BroadcastMessage): Promise<void> {
    if (this.#channels.has(channel)) {
      for (const listener of this.#listeners) listener(channel, message);
    }
    return Promise.resolve();
  }

  /** Forgets the listeners. */
  close(): Promise<void> {
    this.#listeners = [];
    this.#channels.clear();
    return Promise.resolve();
  }
}

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
  #local = new MemoryBackend();
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
  connect(
    listener: (channel: string, message: BroadcastMessage) => void,
  ): Promise<void> {
    return this.#local.connect(listener);
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
    return this.#local.publish(channel, message);
  }

  /** Closes the channel. */
  close(): Promise<void> {
    this.#closed = true;
    this.#channel.close();
    return this.#local.close();
  }
}

/** Options of {@linkcode Broadcast}. */
export interface BroadcastOptions {
  /**
   * How long a member's sends may keep waiting on its full send buffer
   * (above the app's `sendHighWaterMark`) without a break: when the next
   * message for it arrives after that, it is closed with 1013 (try again
   * later) instead of slowing the room. A burst that drains is fine.
   *
   * @default {10000}
   */
  slowMemberTimeoutMs?: number;
  /**
   * A memory bound: sends a member may have waiting at once (they share one
   * payload per message). One more closes it with 1013.
   *
   * @default {1024}
   */
  maxPendingSends?: number;
  /**
   * Undelivered events a `subscribe()` iterator may hold; one more and it
   * throws rather than growing memory.
   *
   * @default {10000}
   */
  maxQueuedEvents?: number;
}

/**
 * The events of one channel, from `subscribe()`; `ready` resolves once the
 * backend delivers the channel (messages published before may be missed).
 */
export interface BroadcastSubscription<T = BroadcastData>
  extends AsyncIterableIterator<BroadcastEvent<T>> {
  /** Resolves once messages will arrive; rejects if the backend failed. */
  readonly ready: Promise<void>;
}

/** Options of {@linkcode Broadcast.subscribe}. */
export interface SubscribeOptions {
  /** Ends the iteration quietly when aborted. */
  signal?: AbortSignal;
}

/** A message received from a channel. */
export interface BroadcastEvent<T = BroadcastData> {
  /** The channel it was published on. */
  channel: string;
  /** The data, as published: a string, a Uint8Array, or a JSON value. */
  data: T;
}

interface Member {
  ws: WebSocket;
  channels: Set<string>;
  /** Sends still waiting on the member's full buffer. */
  pending: number;
  /** Since when the member has had sends waiting, without a break. */
  busySince: number;
  onAbort: () => void;
}

class Subscription {
  readonly channel: string;
  readonly #max: number;
  #queue: BroadcastEvent[] = [];
  // Pending next() calls, in order (the protocol allows several at once).
  #waiters: PromiseWithResolvers<IteratorResult<BroadcastEvent>>[] = [];
  #error: Error | null = null;
  done = false;

  constructor(channel: string, max: number) {
    this.channel = channel;
    this.#max = max;
  }

  push(event: BroadcastEvent): void {
    if (this.done || this.#error !== null) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: event, done: false });
      return;
    }
    if (this.#queue.length >= this.#max) {
      this.#error = new Error(
        `Cannot keep up: the subscription to "${this.channel}" has ${this.#max} undelivered events: consume faster or raise maxQueuedEvents`,
      );
      this.#queue = [];
      return;
    }
    this.#queue.push(event);
  }

  end(): void {
    this.done = true;
    for (const waiter of this.#waiters) {
      waiter.resolve({ value: undefined, done: true });
    }
    this.#waiters = [];
  }

  next(): Promise<IteratorResult<BroadcastEvent>> {
    if (this.#queue.length > 0) {
      return Promise.resolve({ value: this.#queue.shift()!, done: false });
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    const waiter = Promise.withResolvers<IteratorResult<BroadcastEvent>>();
    this.#waiters.push(waiter);
    return waiter.promise;
  }
}

function encode(data: BroadcastData, channel: string): BroadcastMessage {
  if (typeof data === "string") return { kind: "text", data };
  if (data instanceof Uint8Array) return { kind: "bytes", data };
  const text = JSON.stringify(data);
  if (text === undefined) {
    throw new TypeError(
      `Cannot publish to "${channel}": ${typeof data} has no JSON form: publish a string, a Uint8Array or a JSON value`,
    );
  }
  return { kind: "json", data: text };
}

function decode(message: BroadcastMessage): BroadcastData {
  return message.kind === "json" ? JSON.parse(message.data) : message.data;
}

const { CONNECTED } = WebSocketState;

/**
 * Publish/subscribe over a backend, with rooms of local sockets.
 *
 * - `publish(channel, data)`: a string, a `Uint8Array` or a JSON value,
 *   delivered as such: to sockets as text, bytes or compact JSON text.
 * - Messages from one publisher arrive in publish order.
 * - `join(channel, ws)` delivers a channel's messages to an accepted socket;
 *   it leaves every channel when the connection ends.
 * - A member that cannot keep up (its buffer stays over the app's
 *   `sendHighWaterMark`) is closed with 1013 instead of slowing the room.
 *
 * @example See the module documentation.
 * ```ts
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(); // a MemoryBackend
 * assert.deepEqual(broadcast.members("room"), []);
 * await broadcast.close();
 * ```
 */
export class Broadcast {
  #backend: BroadcastBackend;
  #connected: Promise<void>;
  #interest = new Map<string, number>();
  #subscriptions = new Map<string, Set<Subscription>>();
  #rooms = new Map<string, Set<Member>>();
  #members = new Map<WebSocket, Member>();
  #maxPending: number;
  #slowTimeout: number;
  #maxQueued: number;
  #closed = false;
  // Backend unsubscribes under way; close() waits for them.
  #pending = new Set<Promise<void>>();

  /**
   * Creates a broadcaster over `backend`.
   *
   * @param backend How messages travel between processes.
   * @param options Limits for slow members and subscribers.
   */
  constructor(
    backend: BroadcastBackend = new MemoryBackend(),
    options: BroadcastOptions = {},
  ) {
    this.#backend = backend;
    this.#maxPending = options.maxPendingSends ?? 1024;
    this.#slowTimeout = options.slowMemberTimeoutMs ?? 10_000;
    this.#maxQueued = options.maxQueuedEvents ?? 10_000;
    this.#connected = backend.connect((channel, message) =>
      this.#deliver(channel, message)
    );
  }

  /**
   * Publishes `data` on `channel`, to every process.
   *
   * @param channel The channel.
   * @param data A string, a `Uint8Array` or a JSON value.
   * @throws {TypeError} If `data` has no JSON form.
   * @throws {Error} If the backend cannot send it (e.g. Redis is away).
   */
  async publish(channel: string, data: BroadcastData): Promise<void> {
    this.#assertOpen("publish");
    const message = encode(data, channel);
    await this.#connected;
    await this.#backend.publish(channel, message);
  }

  /**
   * Yields the messages published on `channel` from now on, until `signal`
   * aborts (then it ends quietly) or the broadcaster closes.
   *
   * @param channel The channel.
   * @param options The signal that ends it.
   * @returns The events, with a `ready` promise.
   * @throws {Error} From `next()`, if the consumer fell more than
   * `maxQueuedEvents` behind.
   */
  subscribe<T = BroadcastData>(
    channel: string,
    options: SubscribeOptions = {},
  ): BroadcastSubscription<T> {
    this.#assertOpen("subscribe");
    const subscription = new Subscription(channel, this.#maxQueued);
    let set = this.#subscriptions.get(channel);
    if (set === undefined) this.#subscriptions.set(channel, set = new Set());
    set.add(subscription);
    const ready = this.#addInterest(channel);
    const { signal } = options;
    const stop = () => {
      if (subscription.done) return;
      subscription.end();
      set!.delete(subscription);
      if (set!.size === 0) this.#subscriptions.delete(channel);
      signal?.removeEventListener("abort", stop);
      this.#dropInterest(channel);
    };
    if (signal?.aborted) stop();
    else signal?.addEventListener("abort", stop, { once: true });
    // Awaited by next() anyway; not an unhandled rejection if nobody
    // awaits `ready` itself.
    ready.catch(() => {});
    const iterator: BroadcastSubscription<T> = {
      ready,
      next: async () => {
        await ready;
        return await subscription.next() as IteratorResult<BroadcastEvent<T>>;
      },
      return: () => {
        stop();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /**
   * Delivers `channel`'s messages to `ws` (an accepted socket of this
   * process) until it leaves or disconnects.
   *
   * @param channel The channel.
   * @param ws The socket.
   * @returns A promise that resolves once messages will arrive; joining
   * takes effect at once for messages published here.
   * @throws {Error} If the socket is not accepted.
   */
  join(channel: string, ws: WebSocket): Promise<void> {
    this.#assertOpen("join");
    if (ws.applicationState !== CONNECTED) {
      throw new Error(
        `Cannot join "${channel}": the WebSocket is not connected (state ${ws.applicationState}): call accept() first`,
      );
    }
    let member = this.#members.get(ws);
    if (member === undefined) {
      const onAbort = () => this.#leaveAll(ws);
      member = {
        ws,
        channels: new Set(),
        pending: 0,
        busySince: 0,
        onAbort,
      };
      this.#members.set(ws, member);
      ws.signal.addEventListener("abort", onAbort, { once: true });
    }
    if (member.channels.has(channel)) return this.#connected;
    member.channels.add(channel);
    let room = this.#rooms.get(channel);
    if (room === undefined) this.#rooms.set(channel, room = new Set());
    room.add(member);
    const subscribed = this.#addInterest(channel);
    // Callers rarely await join(): a backend failure must not become an
    // unhandled rejection that ends the process. Awaiting still shows it.
    subscribed.catch(() => {});
    return subscribed;
  }

  /**
   * Stops delivering `channel` to `ws`.
   *
   * @param channel The channel.
   * @param ws The socket.
   */
  leave(channel: string, ws: WebSocket): void {
    const member = this.#members.get(ws);
    if (member === undefined || !member.channels.delete(channel)) return;
    const room = this.#rooms.get(channel)!;
    room.delete(member);
    if (room.size === 0) this.#rooms.delete(channel);
    if (member.channels.size === 0) {
      this.#members.delete(ws);
      ws.signal.removeEventListener("abort", member.onAbort);
    }
    this.#dropInterest(channel);
  }

  /**
   * The sockets of this process that joined `channel`.
   *
   * @param channel The channel.
   * @returns The sockets.
   */
  members(channel: string): WebSocket[] {
    return [...(this.#rooms.get(channel) ?? [])].map((member) => member.ws);
  }

  /** Ends every subscription, forgets every member, and closes the backend. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of this.#subscriptions.values()) {
      for (const subscription of set) subscription.end();
    }
    this.#subscriptions.clear();
    for (const ws of [...this.#members.keys()]) this.#leaveAll(ws);
    this.#interest.clear();
    await Promise.all(this.#pending);
    await this.#connected.catch(() => {});
    await this.#backend.close();
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new Error(`Cannot ${action}: the Broadcast is closed`);
    }
  }

  #leaveAll(ws: WebSocket): void {
    const member = this.#members.get(ws);
    if (member === undefined) return;
    for (const channel of [...member.channels]) this.leave(channel, ws);
  }

  async #addInterest(channel: string): Promise<void> {
    const count = this.#interest.get(channel) ?? 0;
    this.#interest.set(channel, count + 1);
    await this.#connected;
    if (count === 0) await this.#backend.subscribe(channel);
  }

  #dropInterest(channel: string): void {
    const count = (this.#interest.get(channel) ?? 0) - 1;
    if (count > 0) {
      this.#interest.set(channel, count);
      return;
    }
    this.#interest.delete(channel);
    if (this.#closed) return;
    // Nothing waits for an unsubscribe; a failure (the backend went away)
    // only means messages keep arriving for a channel nobody reads here.
    const pending: Promise<void> = this.#backend.unsubscribe(channel)
      .catch(() => {})
      .finally(() => this.#pending.delete(pending));
    this.#pending.add(pending);
  }

  #deliver(channel: string, message: BroadcastMessage): void {
    const subscriptions = this.#subscriptions.get(channel);
    if (subscriptions !== undefined) {
      const data = decode(message);
      for (const subscription of subscriptions) {
        subscription.push({ channel, data });
      }
    }
    const room = this.#rooms.get(channel);
    if (room === undefined) return;
    // Encoded once for every member: JSON is sent as its text.
    const now = Date.now();
    for (const member of room) this.#send(member, message.data, now);
  }

  #send(member: Member, payload: string | Uint8Array, now: number): void {
    if (
      member.pending >= this.#maxPending ||
      (member.pending > 0 && now - member.busySince > this.#slowTimeout)
    ) {
      // Ended as if it dropped: its handler sees WebSocketDisconnect(1013).
      this.#leaveAll(member.ws);
      member.ws[END](1013, "Too slow: try again later");
      return;
    }
    // The common case: nothing waiting, so no promise or closure per member.
    if (member.pending === 0 && member.ws[SEND_NOW](payload)) {
      return;
    }
    const sent = typeof payload === "string"
      ? member.ws.sendText(payload)
      : member.ws.sendBytes(payload);
    if (member.pending === 0) member.busySince = now;
    member.pending++;
    sent.then(
      () => member.pending--,
      () => member.pending--, // gone: the abort listener makes it leave
    );
  }
}
