// The backend contract of `Broadcast`, with its history and presence
// extensions. A module of its own so that `broadcast.ts`, the presence and
// history helpers and the backends can share the types without a cycle;
// `broadcast.ts` re-exports everything here.

/**
 * One message as a backend carries it: its kind, and its encoded payload
 * (JSON values travel as their JSON text). `time` is when `publish()` was
 * called, in milliseconds since the epoch, set only when someone measures
 * the delivery lag (a member of an observed app joined this `Broadcast`, or
 * the backend's `publishTime` is on); a backend that can carries it to the
 * other processes' listeners.
 *
 * @example What publish() hands a backend
 * ```ts
 * import {
 *   type BackendListener,
 *   Broadcast,
 *   type BroadcastMessage,
 *   MemoryBackend,
 * } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const seen: BroadcastMessage[] = [];
 * class Recording extends MemoryBackend {
 *   override publish(channel: string, message: BroadcastMessage) {
 *     seen.push(message);
 *     return super.publish(channel, message);
 *   }
 * }
 * const broadcast = new Broadcast(new Recording());
 * await broadcast.publish("room", "hi");
 * await broadcast.publish("room", { n: 1 });
 * assert.deepEqual(seen, [{ kind: "text", data: "hi" }, { kind: "json", data: '{"n":1}' }]);
 * const listener: BackendListener = () => {};
 * assert.equal(typeof listener, "function");
 * await broadcast.close();
 * ```
 */
export type BroadcastMessage =
  | { kind: "text"; data: string; time?: number }
  | { kind: "bytes"; data: Uint8Array; time?: number }
  | { kind: "json"; data: string; time?: number };

/**
 * Where a publication sits in its channel's history: `offset` counts the
 * channel's publications from 1 within one `epoch`; a new epoch (a string
 * chosen by the backend) starts when the history was lost (a restart of the
 * process for `MemoryBackend`, a flushed or restarted Redis for
 * `RedisStreamBackend`), so offsets of different epochs never compare.
 *
 * A client keeps the last position it saw and sends it back on reconnect;
 * `join(channel, ws, { since })` then sends what it missed.
 *
 * @example Positions of one channel
 * ```ts
 * import { Broadcast, MemoryBackend, type StreamPosition } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend());
 * const first: StreamPosition = await broadcast.publish("room", "a");
 * const second = await broadcast.publish("room", "b");
 * assert.equal(first.offset, 1);
 * assert.equal(second.offset, 2);
 * assert.equal(second.epoch, first.epoch); // one lifetime of the history
 * await broadcast.close();
 * ```
 */
export interface StreamPosition {
  /** Names one lifetime of the channel's history. */
  epoch: string;
  /** The publication's number in the channel, from 1; 0 before the first. */
  offset: number;
}

/**
 * A message with its position, as a history read returns it.
 *
 * @example Reading a backend's history
 * ```ts
 * import { MemoryBackend, type Publication } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const backend = new MemoryBackend();
 * const start = await backend.publish("room", { kind: "text", data: "a" });
 * await backend.publish("room", { kind: "text", data: "b" });
 * const { publications } = await backend.history("room", start);
 * const missed: Publication[] = publications;
 * assert.deepEqual(missed, [{ message: { kind: "text", data: "b" }, offset: 2 }]);
 * await backend.close();
 * ```
 */
export interface Publication {
  /** The message. */
  message: BroadcastMessage;
  /** Its number in the channel (the epoch is the history's). */
  offset: number;
}

/**
 * What a backend's `history()` returns: all of what was missed, or nothing.
 *
 * @example Recovered, and not
 * ```ts
 * import { type HistoryResult, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const backend = new MemoryBackend();
 * const start = await backend.publish("room", { kind: "text", data: "a" });
 * await backend.publish("room", { kind: "text", data: "b" });
 * const read: HistoryResult = await backend.history("room", start);
 * assert.equal(read.recovered, true);
 * assert.equal(read.publications.length, 1);
 * assert.equal(read.position.offset, 2);
 * // A position of another epoch (another process's lifetime) is not covered.
 * const lost = await backend.history("room", { epoch: "gone", offset: 1 });
 * assert.equal(lost.recovered, false);
 * assert.deepEqual(lost.publications, []);
 * await backend.close();
 * ```
 */
export interface HistoryResult {
  /**
   * Whether `publications` holds everything published after `since`, in
   * order: false when the history no longer covers it (trimmed, expired, or
   * another epoch); then `publications` is empty, never partial.
   */
  recovered: boolean;
  /** The missed publications, oldest first (empty unless recovered). */
  publications: Publication[];
  /** The channel's latest position when the history was read. */
  position: StreamPosition;
}

/**
 * Receives the messages of the subscribed channels from a backend, with
 * their position when the backend keeps history.
 *
 * @example Listening to a backend directly
 * ```ts
 * import { type BackendListener, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const got: string[] = [];
 * const listener: BackendListener = (channel, message, position) => {
 *   got.push(`${channel} ${message.data} @${position?.offset}`);
 * };
 * const backend = new MemoryBackend();
 * await backend.connect(listener);
 * await backend.subscribe("room");
 * await backend.publish("room", { kind: "text", data: "hi" });
 * assert.deepEqual(got, ["room hi @1"]);
 * await backend.close();
 * ```
 */
export type BackendListener = (
  channel: string,
  message: BroadcastMessage,
  position?: StreamPosition,
) => void;

/**
 * One tracked presence: a client (one tab, one device) of a key (a user).
 *
 * @example The entries of a diff
 * ```ts
 * import { Broadcast, type PresenceEntry } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const here = broadcast.presence("room");
 * const diffs = here.subscribe();
 * await here.track("alice", { device: "phone" });
 * const { value } = await diffs.next();
 * const entry: PresenceEntry = value!.joins[0];
 * assert.equal(entry.key, "alice");
 * assert.deepEqual(entry.meta, { device: "phone" });
 * assert.equal(typeof entry.client, "string");
 * await diffs.return?.();
 * await broadcast.close();
 * ```
 */
export interface PresenceEntry {
  /** Unique per `track()` call: two tabs of one user have two. */
  client: string;
  /** What presence is counted by, e.g. a user id. */
  key: string;
  /** What was tracked with it (a JSON value). */
  meta: unknown;
}

/**
 * Joins and leaves on a channel's presence, batched.
 *
 * @example A join, then a leave
 * ```ts
 * import { Broadcast, type PresenceDiff } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const here = broadcast.presence("room");
 * const diffs = here.subscribe();
 * const untrack = await here.track("alice");
 * const joined: PresenceDiff = (await diffs.next()).value!;
 * assert.deepEqual(joined.joins.map((e) => e.key), ["alice"]);
 * await untrack();
 * const left: PresenceDiff = (await diffs.next()).value!;
 * assert.equal(left.channel, "room");
 * assert.deepEqual(left.leaves.map((e) => e.key), ["alice"]);
 * await diffs.return?.();
 * await broadcast.close();
 * ```
 */
export interface PresenceDiff {
  /** The channel. */
  channel: string;
  /** Entries that appeared. */
  joins: PresenceEntry[];
  /** Entries that went away (untracked, or their node stopped heartbeating). */
  leaves: PresenceEntry[];
}

/**
 * Carries messages between processes. A backend delivers every message
 * published on a channel it is subscribed to (by any process, this one
 * included) to its listeners, in publish order per publisher.
 *
 * A backend with history also implements `history()` and resolves
 * `publish()` with the publication's position, which it passes to the
 * listener too; a backend with presence implements the `presence*` methods.
 *
 * @example A backend that logs what passes through
 * ```ts
 * import {
 *   type BackendListener,
 *   Broadcast,
 *   type BroadcastBackend,
 *   type BroadcastMessage,
 *   MemoryBackend,
 * } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * class LoggingBackend implements BroadcastBackend {
 *   readonly log: string[] = [];
 *   #inner = new MemoryBackend();
 *   connect(listener: BackendListener) {
 *     return this.#inner.connect(listener);
 *   }
 *   subscribe(channel: string) {
 *     return this.#inner.subscribe(channel);
 *   }
 *   unsubscribe(channel: string) {
 *     return this.#inner.unsubscribe(channel);
 *   }
 *   async publish(channel: string, message: BroadcastMessage) {
 *     this.log.push(`${channel}: ${message.kind}`);
 *     await this.#inner.publish(channel, message);
 *   }
 *   close() {
 *     return this.#inner.close();
 *   }
 * }
 * const backend = new LoggingBackend();
 * const broadcast = new Broadcast(backend);
 * assert.equal(await broadcast.publish("news", { headline: "hi" }), null); // no history
 * assert.deepEqual(backend.log, ["news: json"]);
 * await broadcast.close();
 * ```
 */
export interface BroadcastBackend {
  /**
   * Whether every publication should carry its time (`message.time`) to the
   * other processes, so that they measure the delivery lag of what any
   * process publishes. Unset: a `Broadcast` stamps a publication only when
   * one of its own members is observed.
   */
  readonly publishTime?: boolean;
  /**
   * Registers the listener that receives every message of the subscribed
   * channels; called once by each `Broadcast` using the backend.
   */
  connect(listener: BackendListener): Promise<void>;
  /** Starts receiving `channel`; resolves once messages will arrive. */
  subscribe(channel: string): Promise<void>;
  /** Stops receiving `channel`. */
  unsubscribe(channel: string): Promise<void>;
  /**
   * Publishes; rejects, with an error saying why, when the message cannot
   * be sent: it is never dropped silently. A backend with history resolves
   * with the publication's position.
   */
  publish(
    channel: string,
    message: BroadcastMessage,
  ): Promise<StreamPosition | void>;
  /** Releases the backend's resources. */
  close(): Promise<void>;
  /**
   * Reads what was published on `channel` after `since` (all or nothing);
   * with `since` null, only the current position. Absent: no history.
   */
  history?(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult>;
  /** Adds presence entries (one batch); absent: no presence. */
  presenceAdd?(channel: string, entries: PresenceEntry[]): Promise<void>;
  /** Removes presence entries by client id (one batch). */
  presenceRemove?(channel: string, clients: string[]): Promise<void>;
  /** Every live presence entry of `channel`, from every node. */
  presenceList?(channel: string): Promise<PresenceEntry[]>;
  /**
   * Delivers the channel's presence diffs, from every node, to `listener`
   * until the returned function is called.
   */
  presenceWatch?(
    channel: string,
    listener: (diff: PresenceDiff) => void,
  ): Promise<() => Promise<void>>;
}

/**
 * A backend that keeps history: `publish()` always returns a position, so
 * `Broadcast<HistoryBackend>` types `publish()` as `Promise<StreamPosition>`.
 *
 * @example Requiring history in a type
 * ```ts
 * import { Broadcast, type HistoryBackend, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * function resumable(backend: HistoryBackend): Broadcast<HistoryBackend> {
 *   return new Broadcast(backend);
 * }
 * const broadcast = resumable(new MemoryBackend());
 * const { offset } = await broadcast.publish("room", "hi"); // never null
 * assert.equal(offset, 1);
 * await broadcast.close();
 * ```
 */
export interface HistoryBackend extends BroadcastBackend {
  /** Publishes, and resolves with the publication's position. */
  publish(channel: string, message: BroadcastMessage): Promise<StreamPosition>;
  /** Reads what was published on `channel` after `since`. */
  history(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult>;
}
