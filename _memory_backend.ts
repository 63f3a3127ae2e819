// MemoryBackend: the default backend of `Broadcast` (one process, a short
// history per channel, presence), in a module of its own so broadcast.ts
// holds the fan-out alone; `broadcast.ts` re-exports it.
import type {
  BackendListener,
  BroadcastMessage,
  HistoryBackend,
  HistoryResult,
  PresenceDiff,
  PresenceEntry,
  StreamPosition,
} from "./_broadcast_backend.ts";
import { ChannelHistories } from "./_channel_history.ts";

/**
 * Options of {@linkcode MemoryBackend}.
 *
 * @example A short history
 * ```ts
 * import { Broadcast, MemoryBackend, type MemoryBackendOptions } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const options: MemoryBackendOptions = { history: { size: 2, ttlSeconds: 60 } };
 * const broadcast = new Broadcast(new MemoryBackend(options));
 * const first = await broadcast.publish("room", 1);
 * await broadcast.publish("room", 2);
 * await broadcast.publish("room", 3);
 * await broadcast.publish("room", 4);
 * // Three missed, two kept: nothing is replayed rather than a part.
 * const events = broadcast.subscribe("room", { since: first });
 * assert.equal(await events.recovered, false);
 * await broadcast.close();
 * ```
 */
export interface MemoryBackendOptions {
  /**
   * The history kept per channel for `since` (replay after a reconnect):
   * the latest `size` publications no older than `ttlSeconds`. `size: 0`
   * keeps none (every `since` then recovers only when nothing was missed).
   *
   * @default {{ size: 100, ttlSeconds: 120 }}
   */
  history?: { size?: number; ttlSeconds?: number };
  /**
   * Warn (once, on the console) when another isolate of this process runs
   * a `MemoryBackend` too: under `deno serve --parallel` each isolate has
   * its own, so a room silently splits into one room per isolate.
   *
   * @default {true}
   */
  warnIfSplit?: boolean;
}

// Every MemoryBackend of an isolate says hello on this channel while it has
// subscribers; another isolate's answer means the room is split.
const SPLIT_PROBE = "wsapi:memory-backend-probe";
const isolateId = crypto.randomUUID();
let splitWarned = false;

/**
 * Delivers within one process (the default backend), and keeps a short
 * history per channel, so `join(channel, ws, { since })` and
 * `subscribe(channel, { since })` replay what a client missed.
 *
 * - Positions: one epoch per backend (a restart of the process is a new
 *   epoch: `recovered: false`), offsets from 1 per channel.
 * - One isolate only: under `deno serve --parallel` every isolate has its
 *   own backend and its own rooms. It warns when it sees that happen; use
 *   `BroadcastChannelBackend` (one machine) or `RedisStreamBackend`.
 * - Presence works within the process; entries go away on untrack or close.
 *
 * @example
 * ```ts
 * import { Broadcast, MemoryBackend } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast(new MemoryBackend({ history: { size: 10 } }));
 * const first = await broadcast.publish("ticks", 1);
 * await broadcast.publish("ticks", 2);
 * const controller = new AbortController();
 * const events = broadcast.subscribe("ticks", { since: first, signal: controller.signal });
 * assert.equal(await events.recovered, true);
 * const { value } = await events.next();
 * assert.equal(value?.data, 2);
 * assert.equal(value?.offset, first.offset + 1);
 * controller.abort();
 * await broadcast.close();
 * ```
 */
export class MemoryBackend implements HistoryBackend {
  #listeners: BackendListener[] = [];
  #channels = new Map<string, number>();
  #history: ChannelHistories;
  #presence = new Map<string, Map<string, PresenceEntry>>();
  #watchers = new Map<string, Set<(diff: PresenceDiff) => void>>();
  #warn: boolean;
  #probe: BroadcastChannel | null = null;

  /**
   * Creates a backend for this process.
   *
   * @param options History limits and the split warning.
   * @throws {RangeError} If a history limit is negative or not a number.
   */
  constructor(options: MemoryBackendOptions = {}) {
    const size = options.history?.size ?? 100;
    const ttlSeconds = options.history?.ttlSeconds ?? 120;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(
        `Cannot create MemoryBackend: history.size must be an integer >= 0, got ${size}`,
      );
    }
    if (!(ttlSeconds > 0)) {
      throw new RangeError(
        `Cannot create MemoryBackend: history.ttlSeconds must be > 0, got ${ttlSeconds}`,
      );
    }
    this.#history = new ChannelHistories(size, ttlSeconds * 1000);
    this.#warn = options.warnIfSplit ?? true;
  }

  /**
   * Registers a listener.
   *
   * @param listener Receives messages.
   */
  connect(listener: BackendListener): Promise<void> {
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
    this.#openProbe();
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
    if (this.#channels.size === 0) this.#closeProbe();
    return Promise.resolve();
  }

  /**
   * Records the message in the channel's history and delivers it to the
   * listeners, synchronously, if anyone is subscribed.
   *
   * @param channel The channel.
   * @param message The message.
   * @returns Its position.
   */
  publish(channel: string, message: BroadcastMessage): Promise<StreamPosition> {
    const position = this.#history.append(channel, message);
    if (this.#channels.has(channel)) {
      for (const listener of this.#listeners) {
        listener(channel, message, position);
      }
    }
    return Promise.resolve(position);
  }

  /**
   * Reads the publications after `since`, all or nothing.
   *
   * @param channel The channel.
   * @param since The last position the reader has, or null for none.
   * @returns What was missed, and the current position.
   */
  history(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult> {
    return Promise.resolve(this.#history.read(channel, since));
  }

  /**
   * Adds presence entries.
   *
   * @param channel The channel.
   * @param entries The entries.
   */
  presenceAdd(channel: string, entries: PresenceEntry[]): Promise<void> {
    let map = this.#presence.get(channel);
    if (map === undefined) this.#presence.set(channel, map = new Map());
    for (const entry of entries) map.set(entry.client, entry);
    this.#emit({ channel, joins: entries, leaves: [] });
    return Promise.resolve();
  }

  /**
   * Removes presence entries.
   *
   * @param channel The channel.
   * @param clients The entries' client ids.
   */
  presenceRemove(channel: string, clients: string[]): Promise<void> {
    const map = this.#presence.get(channel);
    const leaves: PresenceEntry[] = [];
    for (const client of clients) {
      const entry = map?.get(client);
      if (entry === undefined) continue;
      map!.delete(client);
      leaves.push(entry);
    }
    if (map?.size === 0) this.#presence.delete(channel);
    if (leaves.length > 0) this.#emit({ channel, joins: [], leaves });
    return Promise.resolve();
  }

  /**
   * The presence entries of `channel`.
   *
   * @param channel The channel.
   * @returns The entries.
   */
  presenceList(channel: string): Promise<PresenceEntry[]> {
    return Promise.resolve([...(this.#presence.get(channel)?.values() ?? [])]);
  }

  /**
   * Delivers presence diffs of `channel` to `listener`.
   *
   * @param channel The channel.
   * @param listener Receives the diffs.
   * @returns A function that stops it.
   */
  presenceWatch(
    channel: string,
    listener: (diff: PresenceDiff) => void,
  ): Promise<() => Promise<void>> {
    let set = this.#watchers.get(channel);
    if (set === undefined) this.#watchers.set(channel, set = new Set());
    set.add(listener);
    return Promise.resolve(() => {
      set!.delete(listener);
      if (set!.size === 0) this.#watchers.delete(channel);
      return Promise.resolve();
    });
  }

  /** Forgets the listeners, the history and the presence. */
  close(): Promise<void> {
    this.#listeners = [];
    this.#channels.clear();
    this.#history.clear();
    this.#presence.clear();
    this.#watchers.clear();
    this.#closeProbe();
    return Promise.resolve();
  }

  #emit(diff: PresenceDiff): void {
    for (const watcher of this.#watchers.get(diff.channel) ?? []) {
      watcher(diff);
    }
  }

  // Open only while something is subscribed: an open BroadcastChannel keeps
  // a process alive, and a backend nobody uses cannot split a room.
  #openProbe(): void {
    if (!this.#warn || splitWarned || this.#probe !== null) return;
    const probe = new BroadcastChannel(SPLIT_PROBE);
    this.#probe = probe;
    probe.onmessage = (
      event: MessageEvent<{ isolate: string; reply: boolean }>,
    ) => {
      if (event.data.isolate === isolateId) return;
      if (!event.data.reply) {
        probe.postMessage({ isolate: isolateId, reply: true });
      }
      if (splitWarned) return;
      splitWarned = true;
      console.warn(
        "MemoryBackend: another isolate of this process runs its own MemoryBackend (deno serve --parallel?): " +
          "each isolate has its own rooms, so members on one never see messages published on another: " +
          "use BroadcastChannelBackend (one machine) or RedisStreamBackend (many); warnIfSplit: false silences this",
      );
      this.#closeProbe();
    };
    probe.postMessage({ isolate: isolateId, reply: false });
  }

  #closeProbe(): void {
    this.#probe?.close();
    this.#probe = null;
  }
}
