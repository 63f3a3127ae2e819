// The backend contract of `Broadcast`, with its history and presence
// extensions. A module of its own so that `broadcast.ts`, the presence and
// history helpers and the backends can share the types without a cycle;
// `broadcast.ts` re-exports everything here.

/** One message as a backend carries it: its kind, and its encoded payload. */
export type BroadcastMessage =
  | { kind: "text"; data: string }
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "json"; data: string };

/**
 * Where a publication sits in its channel's history: `offset` counts the
 * channel's publications from 1 within one `epoch`; a new epoch (a string
 * chosen by the backend) starts when the history was lost (a restart of the
 * process for `MemoryBackend`, a flushed or restarted Redis for
 * `RedisStreamBackend`), so offsets of different epochs never compare.
 */
export interface StreamPosition {
  /** Names one lifetime of the channel's history. */
  epoch: string;
  /** The publication's number in the channel, from 1; 0 before the first. */
  offset: number;
}

/** A message with its position, as a history read returns it. */
export interface Publication {
  /** The message. */
  message: BroadcastMessage;
  /** Its number in the channel (the epoch is the history's). */
  offset: number;
}

/** What a backend's `history()` returns. */
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

/** Receives the messages of the subscribed channels from a backend. */
export type BackendListener = (
  channel: string,
  message: BroadcastMessage,
  position?: StreamPosition,
) => void;

/** One tracked presence: a client (one tab, one device) of a key (a user). */
export interface PresenceEntry {
  /** Unique per `track()` call: two tabs of one user have two. */
  client: string;
  /** What presence is counted by, e.g. a user id. */
  key: string;
  /** What was tracked with it (a JSON value). */
  meta: unknown;
}

/** Joins and leaves on a channel's presence, batched. */
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

/** A backend that keeps history: `publish()` always returns a position. */
export interface HistoryBackend extends BroadcastBackend {
  /** Publishes, and resolves with the publication's position. */
  publish(channel: string, message: BroadcastMessage): Promise<StreamPosition>;
  /** Reads what was published on `channel` after `since`. */
  history(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult>;
}
