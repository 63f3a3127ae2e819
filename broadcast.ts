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
import { END, OBSERVERS, SEND_NOW } from "./_symbols.ts";
import type {
  BroadcastBackend,
  BroadcastMessage,
  HistoryBackend,
  HistoryResult,
  StreamPosition,
} from "./_broadcast_backend.ts";
import { assertPosition } from "./_channel_history.ts";
import { MemberPayload } from "./_member_payload.ts";
import { Presence } from "./_presence.ts";
import { MemoryBackend } from "./_memory_backend.ts";
import { type DeliveryObserver, epochMs } from "./_delivery_lag.ts";

export type {
  BackendListener,
  BroadcastBackend,
  BroadcastMessage,
  HistoryBackend,
  HistoryResult,
  PresenceDiff,
  PresenceEntry,
  Publication,
  StreamPosition,
} from "./_broadcast_backend.ts";
export {
  Presence,
  type PresenceStats,
  type PresenceSubscribeOptions,
  type PresenceTrackOptions,
} from "./_presence.ts";
export { MemoryBackend, type MemoryBackendOptions } from "./_memory_backend.ts";
export { BroadcastChannelBackend } from "./_broadcast_channel_backend.ts";

/**
 * What may be published: text, bytes, or any JSON value. Sockets receive
 * text as text, bytes as bytes, and a JSON value as its compact JSON text;
 * subscribers receive the value itself.
 *
 * @example Three kinds of data
 * ```ts
 * import { Broadcast, type BroadcastData } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const events = broadcast.subscribe("room");
 * await events.ready;
 * const sent: BroadcastData[] = ["hi", new Uint8Array([1, 2]), { n: 1 }];
 * for (const data of sent) await broadcast.publish("room", data);
 * for (const data of sent) assert.deepEqual((await events.next()).value.data, data);
 * await broadcast.close();
 * ```
 */
export type BroadcastData = string | Uint8Array | unknown;

/**
 * Options of {@linkcode Broadcast}.
 *
 * @example Tighter limits for slow members
 * ```ts
 * import { Broadcast, type BroadcastOptions, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const options: BroadcastOptions = {
 *   slowMemberTimeoutMs: 2_000,
 *   maxPendingSends: 256,
 *   maxQueuedEvents: 1_000,
 *   presenceBatchMs: 20,
 * };
 * const broadcast = new Broadcast(new MemoryBackend(), options);
 * assert.deepEqual(broadcast.members("room"), []);
 * await broadcast.close();
 * ```
 */
export interface BroadcastOptions {
  /**
   * How long a member's sends may keep waiting on its full send buffer
   * (above the app's `sendHighWaterMark`) without a break: when the next
   * message for it arrives after that, it is closed with 1013 (try again
   * later) instead of slowing the room. A burst that drains is fine. Only
   * time in which the process was free to write counts: while its event
   * loop is blocked (a long synchronous fan-out, other CPU work) nothing
   * can be written to anyone, so members that are behind only for that are
   * not closed. (Measured by a timer that runs while a member has sends
   * waiting: a tick that comes late counts that much less.)
   *
   * @default {10000}
   */
  slowMemberTimeoutMs?: number;
  /**
   * A memory bound: sends a member may have waiting at once (they share one
   * payload per message). One more closes it with 1013. A replay counts
   * too: keep the backend's history size below it.
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
  /**
   * How long `presence(channel).track()`/untrack calls of this node gather
   * before they travel as one diff (a mass reconnect stays a few messages).
   *
   * @default {50}
   */
  presenceBatchMs?: number;
}

/**
 * The events of one channel, from `subscribe()`; `ready` resolves once the
 * backend delivers the channel (messages published before may be missed,
 * unless `since` asked for them).
 *
 * @example Typed events
 * ```ts
 * import { Broadcast, type BroadcastSubscription } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const events: BroadcastSubscription<{ n: number }> = broadcast.subscribe("ticks");
 * await events.ready;
 * assert.equal(await events.recovered, false); // no since: live only
 * await broadcast.publish("ticks", { n: 1 });
 * const { value } = await events.next();
 * assert.equal(value.data.n, 1);
 * await events.return?.();
 * await broadcast.close();
 * ```
 */
export interface BroadcastSubscription<T = BroadcastData>
  extends AsyncIterableIterator<BroadcastEvent<T>> {
  /** Resolves once messages will arrive; rejects if the backend failed. */
  readonly ready: Promise<void>;
  /**
   * With `since`: resolves once the history was read, with whether
   * everything since that position will be yielded first (false: nothing
   * of the history is, only what is published from now on). Without
   * `since`: false once live.
   */
  readonly recovered: Promise<boolean>;
}

/**
 * Options of {@linkcode Broadcast.subscribe}.
 *
 * @example Resuming a subscription
 * ```ts
 * import { Broadcast, MemoryBackend, type SubscribeOptions } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const seen = await broadcast.publish("room", "seen");
 * await broadcast.publish("room", "missed");
 * const controller = new AbortController();
 * const options: SubscribeOptions = { since: seen, signal: controller.signal };
 * const events = broadcast.subscribe("room", options);
 * assert.equal(await events.recovered, true);
 * assert.equal((await events.next()).value.data, "missed");
 * controller.abort(); // ends the iteration quietly
 * assert.equal((await events.next()).done, true);
 * await broadcast.close();
 * ```
 */
export interface SubscribeOptions {
  /** Ends the iteration quietly when aborted. */
  signal?: AbortSignal;
  /**
   * The last position the reader saw: first yield what was published
   * after it (all or nothing, see `recovered`), then live events, with no
   * gap and no duplicate between the two. Needs a backend with history.
   */
  since?: StreamPosition;
}

/**
 * Options of {@linkcode Broadcast.join}.
 *
 * @example A client that says where it stopped
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { Broadcast, type JoinOptions, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const app = new App();
 * app.websocket("/room", async (ws) => {
 *   await ws.accept();
 *   const epoch = ws.queryParams.get("epoch");
 *   const offset = Number(ws.queryParams.get("offset"));
 *   const options: JoinOptions = epoch === null ? {} : { since: { epoch, offset } };
 *   await broadcast.join("room", ws, options);
 *   await ws.receiveText(); // until the client leaves
 * });
 * const seen = await broadcast.publish("room", "seen");
 * await broadcast.publish("room", "missed");
 * const client = new TestClient(app);
 * await using ws = await client.websocketConnect(
 *   `/room?epoch=${seen.epoch}&offset=${seen.offset}`,
 * );
 * assert.equal(await ws.receiveText(), "missed");
 * await broadcast.close();
 * ```
 */
export interface JoinOptions {
  /**
   * The last position the client saw (from its last message, often sent
   * back by the client on reconnect): send what it missed first, then
   * live messages, with no gap and no duplicate. Needs a backend with
   * history.
   */
  since?: StreamPosition;
}

/**
 * What {@linkcode Broadcast.join} resolves with.
 *
 * @example Telling the client to reload
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { Broadcast, type JoinResult, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const app = new App();
 * app.websocket("/room", async (ws) => {
 *   await ws.accept();
 *   // A position of an earlier process: its history is gone.
 *   const result: JoinResult = await broadcast.join("room", ws, {
 *     since: { epoch: "an-old-epoch", offset: 7 },
 *   });
 *   if (!result.recovered) await ws.sendJson({ reload: true, at: result.position });
 *   await ws.receiveText();
 * });
 * await broadcast.publish("room", "before");
 * const client = new TestClient(app);
 * await using ws = await client.websocketConnect("/room");
 * const answer = await ws.receiveJson() as { reload: boolean; at: { offset: number } };
 * assert.equal(answer.reload, true);
 * assert.equal(answer.at.offset, 1); // live from after "before"
 * await broadcast.close();
 * ```
 */
export interface JoinResult {
  /**
   * Whether everything published after `since` was sent to the socket
   * before any live message. False without `since`, and when the history
   * no longer holds it (trimmed, expired, another epoch): then nothing of
   * the history was sent; the client should reload its state.
   */
  recovered: boolean;
  /**
   * The channel's position when the member went live: the member gets
   * everything published after it. Null with a backend that keeps no
   * history.
   */
  position: StreamPosition | null;
}

/**
 * A message received from a channel, with its position when the backend
 * keeps history (keep it to resume with `since`).
 *
 * @example An event's position
 * ```ts
 * import { Broadcast, type BroadcastEvent, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const events = broadcast.subscribe<string>("room");
 * await events.ready;
 * const position = await broadcast.publish("room", "hi");
 * const event: BroadcastEvent<string> = (await events.next()).value;
 * assert.equal(event.channel, "room");
 * assert.equal(event.data, "hi");
 * assert.equal(event.epoch, position.epoch);
 * assert.equal(event.offset, position.offset);
 * await broadcast.close();
 * ```
 */
export interface BroadcastEvent<T = BroadcastData> {
  /** The channel it was published on. */
  channel: string;
  /** The data, as published: a string, a Uint8Array, or a JSON value. */
  data: T;
  /** Its epoch, with a backend that keeps history. */
  epoch?: string;
  /** Its offset in the channel, with a backend that keeps history. */
  offset?: number;
}

/**
 * What `publish()` resolves with: a position if the backend keeps history
 * (`StreamPosition`), else `StreamPosition | null` (null at run time).
 *
 * @example Typed by the backend
 * ```ts
 * import {
 *   Broadcast,
 *   BroadcastChannelBackend,
 *   MemoryBackend,
 *   type PublishResult,
 * } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const kept = new Broadcast(new MemoryBackend());
 * const position: PublishResult<MemoryBackend> = await kept.publish("room", "hi");
 * assert.equal(position.offset, 1);
 * const relayed = new Broadcast(new BroadcastChannelBackend("publish-result-example"));
 * const none: PublishResult<BroadcastChannelBackend> = await relayed.publish("room", "hi");
 * assert.equal(none, null);
 * await kept.close();
 * await relayed.close();
 * ```
 */
export type PublishResult<B extends BroadcastBackend> = B extends HistoryBackend
  ? StreamPosition
  : StreamPosition | null;

interface Held {
  message: BroadcastMessage;
  position: StreamPosition | undefined;
}

interface Member {
  ws: WebSocket;
  channels: Set<string>;
  /** Sends still waiting on the member's full buffer. */
  pending: number;
  /**
   * Since when (on the slow-member clock) the member has had sends waiting,
   * without a break.
   */
  busySince: number;
  onAbort: () => void;
  /**
   * Channels whose history is being read for this member: live messages
   * wait here meanwhile (null almost always: one check on the hot path).
   */
  recovering: Map<string, Held[]> | null;
  /** The connection's session observers, told each delivery's lag. */
  observers: readonly DeliveryObserver[] | undefined;
}

class Subscription {
  readonly channel: string;
  readonly #max: number;
  #queue: BroadcastEvent[] = [];
  // Pending next() calls, in order (the protocol allows several at once).
  #waiters: PromiseWithResolvers<IteratorResult<BroadcastEvent>>[] = [];
  #error: Error | null = null;
  done = false;
  /** Live events held while the history is read. */
  held: BroadcastEvent[] | null = null;

  constructor(channel: string, max: number) {
    this.channel = channel;
    this.#max = max;
  }

  push(event: BroadcastEvent): void {
    if (this.held !== null) {
      this.held.push(event);
      return;
    }
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

  fail(error: Error): void {
    this.#error = error;
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters = [];
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

function event(
  channel: string,
  message: BroadcastMessage,
  position: StreamPosition | undefined,
): BroadcastEvent {
  const data = decode(message);
  return position === undefined
    ? { channel, data }
    : { channel, data, epoch: position.epoch, offset: position.offset };
}

// A live message already covered by the history read (published before
// it), or older: the seam between replay and live drops it.
function covered(
  position: StreamPosition | undefined,
  top: StreamPosition,
): boolean {
  return position !== undefined && position.epoch === top.epoch &&
    position.offset <= top.offset;
}

// Tells a member's session observers how long after publish() its socket
// was handed the message. An observer that throws must not stop the
// fan-out to the members after it.
function delivered(
  observers: readonly DeliveryObserver[],
  channel: string,
  time: number,
): void {
  const lagMs = epochMs() - time;
  for (const observer of observers) {
    try {
      observer.broadcastDelivered?.(channel, lagMs);
    } catch (error) {
      console.error(
        `Broadcast: a session observer's broadcastDelivered() threw on "${channel}":`,
        error,
      );
    }
  }
}

function backendName(backend: BroadcastBackend): string {
  return backend.constructor?.name || "backend";
}

const { CONNECTED } = WebSocketState;

/**
 * Publish/subscribe over a backend, with rooms of local sockets.
 *
 * - `publish(channel, data)`: a string, a `Uint8Array` or a JSON value,
 *   delivered as such: to sockets as text, bytes or compact JSON text. With
 *   a backend that keeps history it resolves with the publication's
 *   position `{ epoch, offset }`.
 * - Messages from one publisher arrive in publish order.
 * - `join(channel, ws, { since })` delivers a channel's messages to an
 *   accepted socket, first what it missed since `since`; it leaves every
 *   channel when the connection ends.
 * - `presence(channel)` tracks who is in a channel, on every node.
 * - A member that cannot keep up (its buffer stays over the app's
 *   `sendHighWaterMark`) is closed with 1013 instead of slowing the room.
 *
 * @example See the module documentation.
 * ```ts
 * import { Broadcast, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * // new Broadcast() makes a MemoryBackend too; named, the type says that
 * // publish() always returns a position.
 * const broadcast = new Broadcast(new MemoryBackend());
 * assert.deepEqual(broadcast.members("room"), []);
 * const { offset } = await broadcast.publish("room", "first");
 * assert.equal(offset, 1);
 * await broadcast.close();
 * ```
 */
export class Broadcast<B extends BroadcastBackend = BroadcastBackend> {
  #backend: B;
  #connected: Promise<void>;
  #interest = new Map<string, number>();
  #subscriptions = new Map<string, Set<Subscription>>();
  #rooms = new Map<string, Set<Member>>();
  #members = new Map<WebSocket, Member>();
  #presence = new Map<string, Presence>();
  #maxPending: number;
  #slowTimeout: number;
  // The slow-member clock (see #startClock): free ms counted so far, the
  // members with sends waiting, and its timer while there are any.
  #freeMs = 0;
  #busyMembers = 0;
  #clock: ReturnType<typeof setTimeout> | undefined;
  #clockAt = 0;
  #tickMs: number;
  #maxQueued: number;
  #presenceBatchMs: number;
  #closed = false;
  // Backend unsubscribes under way; close() waits for them.
  #pending = new Set<Promise<void>>();
  // The last live position per channel, and what waits while a gap in the
  // live sequence is filled from the history.
  #last = new Map<string, StreamPosition>();
  #repairing = new Map<string, Held[]>();
  // Members whose connection is observed: while there are none (and the
  // backend does not ask for publish times), nothing reads a clock for lag.
  #observed = 0;

  /**
   * Creates a broadcaster over `backend`.
   *
   * @param backend How messages travel between processes.
   * @default {new MemoryBackend()}
   * @param options Limits for slow members and subscribers.
   */
  constructor(
    backend: B = new MemoryBackend() as unknown as B,
    options: BroadcastOptions = {},
  ) {
    this.#backend = backend;
    this.#maxPending = options.maxPendingSends ?? 1024;
    this.#slowTimeout = options.slowMemberTimeoutMs ?? 10_000;
    // Fine enough to judge within a quarter of the timeout, at most 4 ticks
    // a second.
    this.#tickMs = Math.min(
      250,
      Math.max(10, Math.floor(this.#slowTimeout / 4)),
    );
    this.#maxQueued = options.maxQueuedEvents ?? 10_000;
    this.#presenceBatchMs = options.presenceBatchMs ?? 50;
    this.#connected = backend.connect((channel, message, position) =>
      this.#receive(channel, message, position)
    );
    // Reported by every publish/join/subscribe that needs it; never an
    // unhandled rejection that would end the process.
    this.#connected.catch(() => {});
  }

  /**
   * Publishes `data` on `channel`, to every process.
   *
   * @param channel The channel.
   * @param data A string, a `Uint8Array` or a JSON value.
   * @returns The publication's position (with a backend that keeps
   * history; `null` with one that keeps none).
   * @throws {TypeError} If `data` has no JSON form.
   * @throws {Error} If the backend cannot send it (e.g. Redis is away).
   */
  async publish(
    channel: string,
    data: BroadcastData,
  ): Promise<PublishResult<B>> {
    this.#assertOpen("publish");
    const message = encode(data, channel);
    if (this.#observed > 0 || this.#backend.publishTime === true) {
      message.time = epochMs();
    }
    await this.#connected;
    const position = await this.#backend.publish(channel, message);
    return (position ?? null) as PublishResult<B>;
  }

  /**
   * Yields the messages published on `channel` from now on (or since
   * `since`), until `signal` aborts (then it ends quietly) or the
   * broadcaster closes.
   *
   * @param channel The channel.
   * @param options The signal that ends it, and where to resume.
   * @returns The events, with `ready` and `recovered` promises.
   * @throws {TypeError} If `since` is not a position.
   * @throws {Error} If `since` is given and the backend keeps no history;
   * from `next()`, if the consumer fell more than `maxQueuedEvents` behind
   * or the history could not be read.
   */
  subscribe<T = BroadcastData>(
    channel: string,
    options: SubscribeOptions = {},
  ): BroadcastSubscription<T> {
    this.#assertOpen("subscribe");
    const { signal, since } = options;
    if (since !== undefined) this.#assertHistory("subscribe", channel, since);
    const subscription = new Subscription(channel, this.#maxQueued);
    let set = this.#subscriptions.get(channel);
    if (set === undefined) this.#subscriptions.set(channel, set = new Set());
    set.add(subscription);
    if (since !== undefined) subscription.held = [];
    const subscribed = this.#addInterest(channel);
    const ready = since === undefined
      ? subscribed
      : subscribed.then(() => this.#recoverSubscription(subscription, since));
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
    const recovered = ready.then((result) => result === true);
    // Awaited by next() anyway; not an unhandled rejection if nobody
    // awaits `ready` itself.
    recovered.catch(() => {});
    const done = ready.then(() => {});
    done.catch(() => {});
    const iterator: BroadcastSubscription<T> = {
      ready: done,
      recovered,
      next: async () => {
        await done;
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
   * process) until it leaves or disconnects; with `since`, first what the
   * client missed (all or nothing: see {@linkcode JoinResult}).
   *
   * @param channel The channel.
   * @param ws The socket.
   * @param options Where to resume.
   * @returns A promise that resolves once messages will arrive (and the
   * replay was sent), with `{ recovered, position }`; joining takes effect
   * at once for messages published here. Joining twice resolves with
   * `recovered: false`.
   * @throws {Error} If the socket is not accepted, or `since` is given and
   * the backend keeps no history.
   * @throws {TypeError} If `since` is not a position.
   */
  join(
    channel: string,
    ws: WebSocket,
    options: JoinOptions = {},
  ): Promise<JoinResult> {
    this.#assertOpen("join");
    if (ws.applicationState !== CONNECTED) {
      throw new Error(
        `Cannot join "${channel}": the WebSocket is not connected (state ${ws.applicationState}): call accept() first`,
      );
    }
    const { since } = options;
    if (since !== undefined) this.#assertHistory("join", channel, since);
    let member = this.#members.get(ws);
    if (member === undefined) {
      const onAbort = () => this.#leaveAll(ws);
      member = {
        ws,
        channels: new Set(),
        pending: 0,
        busySince: 0,
        onAbort,
        recovering: null,
        observers: ws[OBSERVERS],
      };
      if (member.observers !== undefined) this.#observed++;
      this.#members.set(ws, member);
      ws.signal.addEventListener("abort", onAbort, { once: true });
    }
    if (member.channels.has(channel)) {
      return this.#connected.then(() => ({ recovered: false, position: null }));
    }
    member.channels.add(channel);
    let room = this.#rooms.get(channel);
    if (room === undefined) this.#rooms.set(channel, room = new Set());
    room.add(member);
    const history = this.#backend.history !== undefined;
    // Subscribe first, read the history second: whatever is published in
    // between is in both, and the offsets drop the duplicate.
    // The held list is also this join's token: a leave and a new join
    // while the history is read make it stale.
    const held: Held[] = [];
    if (history) (member.recovering ??= new Map()).set(channel, held);
    const subscribed = this.#addInterest(channel);
    const joined = history
      ? subscribed.then(
        () => this.#recoverMember(member, channel, since ?? null, held),
        (error) => {
          this.#release(member, channel, null, held);
          throw error;
        },
      )
      : subscribed.then(() => ({ recovered: false, position: null }));
    // Callers rarely await join(): a backend failure must not become an
    // unhandled rejection that ends the process. Awaiting still shows it.
    joined.catch(() => {});
    return joined;
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
    member.recovering?.delete(channel);
    const room = this.#rooms.get(channel)!;
    room.delete(member);
    if (room.size === 0) this.#rooms.delete(channel);
    if (member.channels.size === 0) {
      this.#members.delete(ws);
      if (member.observers !== undefined) this.#observed--;
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

  /**
   * Who is in `channel`, on every node of the backend (see
   * {@linkcode Presence}).
   *
   * @param channel The channel.
   * @returns The channel's presence (the same object on every call).
   * @throws {Error} If the backend has no presence.
   */
  presence(channel: string): Presence {
    this.#assertOpen("use presence");
    let presence = this.#presence.get(channel);
    if (presence !== undefined) return presence;
    if (this.#backend.presenceAdd === undefined) {
      throw new Error(
        `Cannot use presence on "${channel}": ${
          backendName(this.#backend)
        } keeps no presence: use MemoryBackend (one process) or RedisStreamBackend (many)`,
      );
    }
    presence = new Presence(channel, this.#backend, this.#presenceBatchMs);
    this.#presence.set(channel, presence);
    return presence;
  }

  /**
   * Ends every subscription, forgets every member, removes this node's
   * presence entries, and closes the backend.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#clock);
    this.#clock = undefined;
    for (const set of this.#subscriptions.values()) {
      for (const subscription of set) subscription.end();
    }
    this.#subscriptions.clear();
    for (const ws of [...this.#members.keys()]) this.#leaveAll(ws);
    this.#interest.clear();
    const presences = [...this.#presence.values()];
    this.#presence.clear();
    await Promise.all(presences.map((p) => p.close().catch(() => {})));
    await Promise.all(this.#pending);
    await this.#connected.catch(() => {});
    await this.#backend.close();
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new Error(`Cannot ${action}: the Broadcast is closed`);
    }
  }

  #assertHistory(action: string, channel: string, since: unknown): void {
    assertPosition(since, `${action} "${channel}"`);
    if (this.#backend.history === undefined) {
      throw new Error(
        `Cannot ${action} "${channel}" since a position: ${
          backendName(this.#backend)
        } keeps no history, so nothing missed can be replayed: use MemoryBackend or RedisStreamBackend, or leave out since`,
      );
    }
  }

  async #recoverMember(
    member: Member,
    channel: string,
    since: StreamPosition | null,
    held: Held[],
  ): Promise<JoinResult> {
    let result: HistoryResult;
    try {
      result = await this.#backend.history!(channel, since);
    } catch (error) {
      this.#release(member, channel, null, held);
      throw error;
    }
    const recovered = since !== null && result.recovered;
    if (member.recovering?.get(channel) !== held) {
      // Left meanwhile (and maybe joined again: that join replays).
      return { recovered, position: result.position };
    }
    const { epoch } = result.position;
    if (recovered) {
      for (const publication of result.publications) {
        const position = { epoch, offset: publication.offset };
        this.#send(
          member,
          new MemberPayload(channel, publication.message, position).for(
            member.ws,
          ),
          channel,
          undefined, // a replay: its age is not lag
        );
      }
    }
    this.#release(member, channel, result.position, held);
    return { recovered, position: result.position };
  }

  // Ends a member's recovery of `channel`: what arrived live meanwhile
  // goes out now, minus what the history already covered.
  #release(
    member: Member,
    channel: string,
    top: StreamPosition | null,
    held: Held[],
  ): void {
    if (member.recovering?.get(channel) !== held) return; // stale

    member.recovering!.delete(channel);
    if (member.recovering!.size === 0) member.recovering = null;
    for (const { message, position } of held) {
      if (top !== null && covered(position, top)) continue;
      this.#send(
        member,
        new MemberPayload(channel, message, position).for(member.ws),
        channel,
        message.time,
      );
    }
  }

  async #recoverSubscription(
    subscription: Subscription,
    since: StreamPosition,
  ): Promise<boolean> {
    const { channel } = subscription;
    let result: HistoryResult;
    try {
      result = await this.#backend.history!(channel, since);
    } catch (error) {
      subscription.held = null;
      subscription.fail(error as Error);
      throw error;
    }
    const held = subscription.held ?? [];
    subscription.held = null;
    const { epoch } = result.position;
    if (result.recovered) {
      for (const publication of result.publications) {
        subscription.push(
          event(channel, publication.message, {
            epoch,
            offset: publication.offset,
          }),
        );
      }
    }
    for (const live of held) {
      const position = live.epoch === undefined
        ? undefined
        : { epoch: live.epoch, offset: live.offset! };
      if (!covered(position, result.position)) subscription.push(live);
    }
    return result.recovered;
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
    this.#last.delete(channel);
    this.#repairing.delete(channel);
    if (this.#closed) return;
    // Nothing waits for an unsubscribe; a failure (the backend went away)
    // only means messages keep arriving for a channel nobody reads here.
    const pending: Promise<void> = this.#backend.unsubscribe(channel)
      .catch(() => {})
      .finally(() => this.#pending.delete(pending));
    this.#pending.add(pending);
  }

  // Live delivery is at most once in a backend (Redis pub/sub drops what
  // arrives while its connection is cut); numbered messages let a gap show:
  // it is filled from the history before anything after it goes out, and a
  // duplicate is dropped, so members and subscribers see one sequence.
  #receive(
    channel: string,
    message: BroadcastMessage,
    position: StreamPosition | undefined,
  ): void {
    if (position === undefined || this.#backend.history === undefined) {
      this.#deliver(channel, message, position);
      return;
    }
    const waiting = this.#repairing.get(channel);
    if (waiting !== undefined) {
      waiting.push({ message, position });
      return;
    }
    const last = this.#last.get(channel);
    if (last !== undefined && last.epoch === position.epoch) {
      if (position.offset <= last.offset) return; // seen: a duplicate
      if (position.offset > last.offset + 1) {
        this.#repair(channel, last, { message, position });
        return;
      }
    }
    this.#last.set(channel, position);
    this.#deliver(channel, message, position);
  }

  #repair(channel: string, last: StreamPosition, first: Held): void {
    const waiting: Held[] = [first];
    this.#repairing.set(channel, waiting);
    const done = (result: HistoryResult | null) => {
      if (this.#repairing.get(channel) !== waiting) return; // left meanwhile
      this.#repairing.delete(channel);
      let top = last;
      if (result?.recovered && result.position.epoch === last.epoch) {
        for (const publication of result.publications) {
          if (publication.offset >= first.position!.offset) break;
          top = { epoch: last.epoch, offset: publication.offset };
          this.#last.set(channel, top);
          this.#deliver(channel, publication.message, top);
        }
      }
      // Not recoverable (trimmed, Redis away): the gap stays, and what
      // came live goes out in order.
      for (const held of waiting) {
        const position = held.position!;
        const seen = this.#last.get(channel);
        if (
          seen !== undefined && seen.epoch === position.epoch &&
          position.offset <= seen.offset
        ) continue;
        this.#last.set(channel, position);
        this.#deliver(channel, held.message, position);
      }
    };
    this.#backend.history!(channel, last).then(done, () => done(null));
  }

  #deliver(
    channel: string,
    message: BroadcastMessage,
    position: StreamPosition | undefined,
  ): void {
    const subscriptions = this.#subscriptions.get(channel);
    if (subscriptions !== undefined) {
      // Decoded once, shared by every subscriber (as the payload is shared
      // by every member).
      const shared = event(channel, message, position);
      for (const subscription of subscriptions) subscription.push(shared);
    }
    const room = this.#rooms.get(channel);
    if (room === undefined) return;
    // Encoded once for every member: JSON is sent as its text (on protocol
    // routes, in one envelope shared by their members).
    const payload = new MemberPayload(channel, message, position);
    const time = message.time;
    for (const member of room) {
      const held = member.recovering?.get(channel);
      if (held !== undefined) {
        held.push({ message, position });
        continue;
      }
      this.#send(member, payload.for(member.ws), channel, time);
    }
  }

  // `time`: the publication's, when it is live, carries one, and lag is
  // measured; then an observed member is told the lag once the socket has
  // the message.
  #send(
    member: Member,
    payload: string | Uint8Array,
    channel: string,
    time: number | undefined,
  ): void {
    if (
      member.pending >= this.#maxPending ||
      (member.pending > 0 &&
        this.#freeMs - member.busySince > this.#slowTimeout)
    ) {
      // Ended as if it dropped: its handler sees WebSocketDisconnect(1013).
      this.#leaveAll(member.ws);
      member.ws[END](1013, "Too slow: try again later");
      return;
    }
    // The common case: nothing waiting, so no promise or closure per member.
    if (member.pending === 0 && member.ws[SEND_NOW](payload)) {
      if (time !== undefined && member.observers !== undefined) {
        delivered(member.observers, channel, time);
      }
      return;
    }
    const sent = typeof payload === "string"
      ? member.ws.sendText(payload)
      : member.ws.sendBytes(payload);
    if (member.pending++ === 0) {
      member.busySince = this.#freeMs;
      if (this.#busyMembers++ === 0 && !this.#closed) this.#startClock();
    }
    sent.then(
      () => {
        this.#sent(member);
        if (time !== undefined && member.observers !== undefined) {
          delivered(member.observers, channel, time);
        }
      },
      () => this.#sent(member), // gone: the abort listener makes it leave
    );
  }

  #sent(member: Member): void {
    if (--member.pending === 0 && --this.#busyMembers === 0) {
      clearTimeout(this.#clock);
      this.#clock = undefined;
    }
  }

  // The slow-member clock counts the time in which this process was free to
  // write: a member is judged by how long its sends waited while they could
  // have gone out, not by wall time, so a server whose event loop is
  // saturated (a long synchronous fan-out, other CPU work) does not close
  // the members it could not serve meanwhile. It ticks only while a member
  // has sends waiting; a tick that comes `late` ms after its time (the
  // loop was busy) counts `late` ms less, and nothing past a whole tick.
  #startClock(): void {
    this.#clockAt = performance.now();
    this.#clock = setTimeout(this.#tick, this.#tickMs);
  }

  #tick = (): void => {
    const now = performance.now();
    const late = now - this.#clockAt - this.#tickMs;
    if (late < this.#tickMs) {
      this.#freeMs += late > 0 ? this.#tickMs - late : this.#tickMs;
    }
    this.#clockAt = now;
    this.#clock = setTimeout(this.#tick, this.#tickMs);
  };
}
