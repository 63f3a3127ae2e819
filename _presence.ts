// Presence of one channel across every node of a backend: `Presence` batches
// this node's tracks and untracks into one backend call per `batchMs`, so a
// mass reconnect is a few diffs, not a storm.
import type {
  BroadcastBackend,
  PresenceDiff,
  PresenceEntry,
} from "./_broadcast_backend.ts";

/**
 * Options of {@linkcode Presence.track}.
 *
 * @example Present for the life of a connection
 * ```ts
 * import { App } from "@wsapi/wsapi";
 * import { Broadcast, type PresenceTrackOptions } from "@wsapi/wsapi/broadcast";
 * import { TestClient } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const here = broadcast.presence("room");
 * const app = new App();
 * app.websocket("/room", async (ws) => {
 *   await ws.accept();
 *   const options: PresenceTrackOptions = { signal: ws.signal };
 *   await here.track(ws.queryParams.get("user") ?? "anonymous", null, options);
 *   await ws.sendText("tracked");
 *   await ws.receiveText(); // until the client leaves
 * });
 * const diffs = here.subscribe();
 * const client = new TestClient(app);
 * const ws = await client.websocketConnect("/room?user=alice");
 * assert.equal(await ws.receiveText(), "tracked");
 * assert.deepEqual(await here.stats(), { clients: 1, keys: 1 });
 * assert.equal((await diffs.next()).value.joins.length, 1);
 * await ws.close(); // the socket's signal aborts: untracked
 * assert.equal((await diffs.next()).value.leaves.length, 1);
 * assert.deepEqual(await here.stats(), { clients: 0, keys: 0 });
 * await app.shutdown();
 * await broadcast.close();
 * ```
 */
export interface PresenceTrackOptions {
  /** Untracks when aborted, e.g. `ws.signal` for the life of a connection. */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode Presence.subscribe}.
 *
 * @example Watching until aborted
 * ```ts
 * import {
 *   Broadcast,
 *   type PresenceDiff,
 *   type PresenceSubscribeOptions,
 * } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const here = broadcast.presence("room");
 * const controller = new AbortController();
 * const options: PresenceSubscribeOptions = { signal: controller.signal };
 * const diffs = here.subscribe(options);
 * await here.track("alice");
 * const diff: PresenceDiff = (await diffs.next()).value;
 * assert.deepEqual(diff.joins.map((entry) => entry.key), ["alice"]);
 * controller.abort();
 * assert.equal((await diffs.next()).done, true);
 * await broadcast.close();
 * ```
 */
export interface PresenceSubscribeOptions {
  /** Ends the iteration quietly when aborted. */
  signal?: AbortSignal;
}

/**
 * Counts from {@linkcode Presence.stats}.
 *
 * @example Tabs and users
 * ```ts
 * import { Broadcast, type PresenceStats } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const here = broadcast.presence("room");
 * await here.track("alice", { tab: 1 });
 * await here.track("alice", { tab: 2 });
 * const stats: PresenceStats = await here.stats();
 * assert.deepEqual(stats, { clients: 2, keys: 1 });
 * await broadcast.close();
 * ```
 */
export interface PresenceStats {
  /** Tracked entries (tabs, devices), on every node. */
  clients: number;
  /** Distinct keys (users): a user with three tabs counts once. */
  keys: number;
}

/**
 * Who is in a channel, on every node of the backend; from
 * `broadcast.presence(channel)`.
 *
 * - `track(key, meta)` adds an entry (one per tab or device) and resolves
 *   with the function that removes it; `signal` removes it on abort.
 * - `list()` groups the entries by key, with every meta; `stats()` counts.
 * - `subscribe()` yields batched diffs: `{ joins, leaves }`.
 * - Tracks and untracks of one node within `presenceBatchMs` travel as one
 *   diff. With `RedisStreamBackend`, a node refreshes its entries by
 *   heartbeat; the entries of a node that dies go away within the backend's
 *   presence TTL (and a leave diff says so).
 *
 * @example Three tabs, one user
 * ```ts
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import assert from "node:assert/strict";
 *
 * const broadcast = new Broadcast();
 * const here = broadcast.presence("room");
 * const untrack = await here.track("alice", { tab: 1 });
 * await here.track("alice", { tab: 2 });
 * await here.track("bob", { tab: 1 });
 * assert.deepEqual(await here.stats(), { clients: 3, keys: 2 });
 * await untrack();
 * assert.deepEqual(await here.list(), { alice: [{ tab: 2 }], bob: [{ tab: 1 }] });
 * await broadcast.close();
 * ```
 */
export class Presence {
  readonly #channel: string;
  readonly #backend: BroadcastBackend;
  readonly #batchMs: number;
  #adds = new Map<string, PresenceEntry>();
  #removes = new Set<string>();
  #batch: PromiseWithResolvers<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  // This node's entries: untracked on close().
  #mine = new Map<string, PresenceEntry>();
  // Ends the subscribe() iterators on close().
  #stops = new Set<() => Promise<void>>();
  #closed = false;

  /**
   * Made by `broadcast.presence(channel)`.
   *
   * @param channel The channel.
   * @param backend The backend (with presence).
   * @param batchMs How long tracks and untracks gather into one diff.
   */
  constructor(channel: string, backend: BroadcastBackend, batchMs: number) {
    this.#channel = channel;
    this.#backend = backend;
    this.#batchMs = batchMs;
  }

  /**
   * Adds an entry for `key` with `meta`, seen by every node.
   *
   * @param key What presence counts by (a user id).
   * @param meta A JSON value describing this entry (a device, a name).
   * @param options The signal that untracks it.
   * @returns A function that removes the entry (once; later calls do nothing).
   * @throws {TypeError} If `key` is empty or `meta` has no JSON form.
   * @throws {Error} If the backend cannot store it (e.g. Redis is away).
   */
  async track(
    key: string,
    meta: unknown = null,
    options: PresenceTrackOptions = {},
  ): Promise<() => Promise<void>> {
    this.#assertOpen("track presence");
    if (typeof key !== "string" || key === "") {
      throw new TypeError(
        `Cannot track presence on "${this.#channel}": the key must be a non-empty string, got ${
          JSON.stringify(key)
        }`,
      );
    }
    if (JSON.stringify(meta) === undefined) {
      throw new TypeError(
        `Cannot track presence on "${this.#channel}": meta (${typeof meta}) has no JSON form: pass a JSON value`,
      );
    }
    const client = crypto.randomUUID();
    const entry: PresenceEntry = { client, key, meta };
    this.#mine.set(client, entry);
    this.#adds.set(client, entry);
    let done = false;
    const untrack = (): Promise<void> => {
      if (done) return Promise.resolve();
      done = true;
      options.signal?.removeEventListener("abort", onAbort);
      this.#mine.delete(client);
      if (this.#closed) return Promise.resolve();
      // Not sent yet: the two cancel out, nobody sees a join and a leave.
      if (!this.#adds.delete(client)) this.#removes.add(client);
      return this.#schedule();
    };
    const onAbort = () => {
      untrack().catch(() => {}); // reported by the backend's own log
    };
    try {
      await this.#schedule();
    } catch (error) {
      this.#mine.delete(client);
      done = true;
      throw error;
    }
    if (options.signal?.aborted) await untrack();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    return untrack;
  }

  /**
   * The entries of every node, grouped by key.
   *
   * @returns Each key with the meta of each of its entries.
   */
  async list(): Promise<Record<string, unknown[]>> {
    const out: Record<string, unknown[]> = {};
    for (const entry of await this.#entries()) {
      (out[entry.key] ??= []).push(entry.meta);
    }
    return out;
  }

  /**
   * Counts the entries and the distinct keys of every node.
   *
   * @returns `{ clients, keys }`.
   */
  async stats(): Promise<PresenceStats> {
    const entries = await this.#entries();
    return {
      clients: entries.length,
      keys: new Set(entries.map((entry) => entry.key)).size,
    };
  }

  /**
   * Yields the channel's presence diffs (from every node) from now on.
   *
   * @param options The signal that ends it.
   * @returns The diffs.
   */
  subscribe(
    options: PresenceSubscribeOptions = {},
  ): AsyncIterableIterator<PresenceDiff> {
    this.#assertOpen("subscribe to presence");
    const queue: PresenceDiff[] = [];
    const waiters: PromiseWithResolvers<IteratorResult<PresenceDiff>>[] = [];
    let done = false;
    let stopWatching: (() => Promise<void>) | null = null;
    const watching = this.#backend.presenceWatch!(this.#channel, (diff) => {
      if (done) return;
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter.resolve({ value: diff, done: false });
      else queue.push(diff);
    }).then((stop) => {
      if (done) return stop();
      stopWatching = stop;
    });
    watching.catch(() => {}); // next() reports it
    const stop = async () => {
      if (done) return;
      done = true;
      this.#stops.delete(stop);
      options.signal?.removeEventListener("abort", onAbort);
      for (const waiter of waiters.splice(0)) {
        waiter.resolve({ value: undefined, done: true });
      }
      await watching.catch(() => {});
      // The backend may be gone already (closed, or Redis away): nothing
      // more will arrive either way.
      await (stopWatching as (() => Promise<void>) | null)?.().catch(() => {});
    };
    this.#stops.add(stop);
    const onAbort = () => void stop();
    if (options.signal?.aborted) void stop();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
    const iterator: AsyncIterableIterator<PresenceDiff> = {
      next: async () => {
        await watching;
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        if (done) return { value: undefined, done: true };
        const waiter = Promise.withResolvers<IteratorResult<PresenceDiff>>();
        waiters.push(waiter);
        return await waiter.promise;
      },
      return: async () => {
        await stop();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Removes this node's entries (on `broadcast.close()`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    const clients = [...this.#mine.keys()];
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    this.#mine.clear();
    clearTimeout(this.#timer);
    const batch = this.#batch;
    this.#batch = null;
    this.#adds.clear();
    this.#removes.clear();
    try {
      if (clients.length > 0) {
        await this.#backend.presenceRemove!(this.#channel, clients);
      }
      batch?.resolve();
    } catch (error) {
      batch?.reject(error);
      throw error;
    }
  }

  #assertOpen(action: string): void {
    if (this.#closed) {
      throw new Error(
        `Cannot ${action} on "${this.#channel}": the Broadcast is closed`,
      );
    }
  }

  async #entries(): Promise<PresenceEntry[]> {
    this.#assertOpen("read presence");
    return await this.#backend.presenceList!(this.#channel);
  }

  #schedule(): Promise<void> {
    if (this.#batch !== null) return this.#batch.promise;
    const batch = Promise.withResolvers<void>();
    this.#batch = batch;
    this.#timer = setTimeout(() => {
      this.#batch = null;
      const adds = [...this.#adds.values()];
      const removes = [...this.#removes];
      this.#adds.clear();
      this.#removes.clear();
      Promise.all([
        adds.length > 0
          ? this.#backend.presenceAdd!(this.#channel, adds)
          : undefined,
        removes.length > 0
          ? this.#backend.presenceRemove!(this.#channel, removes)
          : undefined,
      ]).then(() => batch.resolve(), batch.reject);
    }, this.#batchMs);
    return batch.promise;
  }
}
