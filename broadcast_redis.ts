/**
 * Redis backends for `Broadcast`, so every process on every machine that
 * shares the Redis server sees the same rooms. Its own entry point
 * (`@wsapi/wsapi/broadcast/redis`) keeps the `redis` npm client out of apps
 * that do not use it.
 *
 * - {@linkcode RedisStreamBackend}: history in a Redis stream per channel
 *   (replay after a reconnect with `since`, `recovered`), presence across
 *   nodes, live delivery by pub/sub.
 * - {@linkcode RedisBackend}: plain pub/sub, at most once, no history.
 *
 * Both connect on first use with two connections (commands, subscriber),
 * whatever the number of channels. Connecting gives up after
 * `connectTimeoutMs` (a clear error, logged once); while the server is away,
 * `publish`, `join` and `subscribe` reject at once; a command without an
 * answer rejects after `commandTimeoutMs`. Nothing keeps a process from
 * exiting once the `Broadcast` is closed. Permissions: `--allow-net` to the
 * server suffices.
 *
 * @example Chat across machines
 * ```ts ignore
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import { RedisStreamBackend } from "@wsapi/wsapi/broadcast/redis";
 *
 * const broadcast = new Broadcast(
 *   new RedisStreamBackend({ url: "redis://127.0.0.1:6379", history: { size: 1000, ttlSeconds: 120 } }),
 * );
 * const { epoch, offset } = await broadcast.publish("room", { from: "server-a", text: "hi" });
 * ```
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type {
  BackendListener,
  BroadcastBackend,
  BroadcastMessage,
  HistoryBackend,
  HistoryResult,
  PresenceDiff,
  PresenceEntry,
  StreamPosition,
} from "./broadcast.ts";
import {
  decodeMessage,
  encodeMessage,
  RedisConnection,
  safeRedisUrl,
} from "./_redis_connection.ts";
import { PublishBatches } from "./_publish_batches.ts";

/**
 * Options of {@linkcode RedisBackend} (and of {@linkcode RedisStreamBackend},
 * which adds history and presence).
 *
 * @example Bounded waits and a quiet logger
 * ```ts
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import { RedisBackend, type RedisBackendOptions } from "@wsapi/wsapi/broadcast/redis";
 * import assert from "node:assert/strict";
 *
 * const errors: Error[] = [];
 * const options: RedisBackendOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   prefix: "myapp:",
 *   connectTimeoutMs: 2_000,
 *   commandTimeoutMs: 1_000,
 *   maxReconnectDelayMs: 5_000,
 *   onError: (error) => errors.push(error),
 * };
 * // Nothing connects until the first publish, join or subscribe.
 * const broadcast = new Broadcast(new RedisBackend(options));
 * assert.deepEqual(broadcast.members("room"), []);
 * await broadcast.close();
 * assert.deepEqual(errors, []);
 * ```
 */
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
  /**
   * How long the first connection may take before `publish`/`join`
   * reject with an error saying so (the next call tries again).
   *
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * How long a command may go unanswered (a server that hangs) before it
   * rejects.
   *
   * @default {5000}
   */
  commandTimeoutMs?: number;
  /**
   * Where connection failures are reported (once per outage).
   *
   * @default {console.error}
   */
  onError?: (error: Error) => void;
  /**
   * Stamp every publication with its time and carry it (9 bytes more per
   * message), so that every node measures the broadcast delivery lag of
   * what any node publishes (`websocket.server.broadcast.lag` of
   * `instrument()`), as exactly as the machines' clocks agree. Off, the
   * lag is not measured for messages that pass through Redis. Every
   * version reads both formats, but versions before this option drop
   * stamped messages: turn it on once no node runs one.
   *
   * @default {false}
   */
  publishTime?: boolean;
}

/**
 * Options of {@linkcode RedisStreamBackend}: those of `RedisBackend`, plus
 * how much history a channel keeps and how long presence outlives a node.
 *
 * @example A longer history, a quicker presence
 * ```ts
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import {
 *   RedisStreamBackend,
 *   type RedisStreamBackendOptions,
 * } from "@wsapi/wsapi/broadcast/redis";
 * import assert from "node:assert/strict";
 *
 * const options: RedisStreamBackendOptions = {
 *   url: "redis://127.0.0.1:6379",
 *   history: { size: 10_000, ttlSeconds: 600 },
 *   epochTtlSeconds: 86_400,
 *   presence: { ttlSeconds: 15 },
 * };
 * // Nothing connects until the first publish, join or subscribe.
 * const broadcast = new Broadcast(new RedisStreamBackend(options));
 * assert.deepEqual(broadcast.members("room"), []);
 * await broadcast.close();
 * ```
 */
export interface RedisStreamBackendOptions extends RedisBackendOptions {
  /**
   * History per channel: the latest `size` publications (a stream trimmed
   * with `XADD MAXLEN ~`), none older than `ttlSeconds`; the stream
   * expires after `ttlSeconds` without a publication.
   *
   * @default {{ size: 1000, ttlSeconds: 120 }}
   */
  history?: { size?: number; ttlSeconds?: number };
  /**
   * How long a channel's epoch and offset counter live without a
   * publication; after that the channel starts a new epoch (every `since`
   * of the old one gets `recovered: false`).
   *
   * @default {604800} (7 days)
   */
  epochTtlSeconds?: number;
  /**
   * Presence: each node refreshes its entries every `ttlSeconds / 3`; the
   * entries of a node that stops (killed, cut off) are gone from `list()`
   * and `stats()` at most `ttlSeconds` after it stopped (its last refresh
   * set their expiry), and a leave diff reports them within
   * `ttlSeconds * 4 / 3` (the sweep of a live node's next heartbeat, or of
   * a `list()` or `stats()` before it).
   *
   * @default {{ ttlSeconds: 30 }}
   */
  presence?: { ttlSeconds?: number };
}

// What both backends share: a connection for commands and one for
// subscriptions, the listeners `connect()` registered, one Redis subscription
// per channel however many local subscribers ask for it, and whether the
// backend is closed.
class RedisPubSub {
  readonly commands: RedisConnection;
  readonly subscriber: RedisConnection;
  readonly prefix: string;
  listeners: BackendListener[] = [];
  closed = false;
  #counts = new Map<string, number>();

  constructor(options: RedisBackendOptions, owner: string) {
    const common = {
      url: options.url,
      safeUrl: safeRedisUrl(options.url, owner),
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      commandTimeoutMs: options.commandTimeoutMs ?? 5000,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 2000,
      onError: options.onError ??
        ((error: Error) => console.error(error.message)),
    };
    this.commands = new RedisConnection({
      ...common,
      role: `${owner} (commands)`,
    });
    this.subscriber = new RedisConnection({
      ...common,
      role: `${owner} (subscriber)`,
    });
    this.prefix = options.prefix ?? "wsapi:";
  }

  // Connects at once, so a wrong URL or a server that is down shows in the
  // log when the app starts, not at the first message. Never fatal here: a
  // Broadcast made before Redis is up works once it is.
  connect(listener: BackendListener): Promise<void> {
    this.listeners.push(listener);
    this.commands.client().catch(() => {});
    this.subscriber.client().catch(() => {});
    return Promise.resolve();
  }

  async subscribe(
    channel: string,
    key: string,
    onMessage: (raw: Buffer) => void,
  ): Promise<void> {
    const count = this.#counts.get(channel) ?? 0;
    this.#counts.set(channel, count + 1);
    if (count > 0) return;
    try {
      await this.subscriber.command(
        `subscribe to "${channel}"`,
        // buffers: bytes arrive as sent
        (client) => client.subscribe(key, onMessage, true),
      );
    } catch (error) {
      this.#counts.delete(channel);
      throw error;
    }
  }

  async unsubscribe(channel: string, key: string): Promise<void> {
    const count = (this.#counts.get(channel) ?? 0) - 1;
    if (count > 0) {
      this.#counts.set(channel, count);
      return;
    }
    this.#counts.delete(channel);
    // By name: an unsubscribe without names has hung in node-redis.
    if (this.subscriber.isReady) {
      await this.subscriber.command(
        `unsubscribe from "${channel}"`,
        (client) => client.unsubscribe(key),
      );
    }
  }

  checkOpen(channel: string): void {
    if (this.closed) {
      throw new Error(
        `Cannot publish to "${channel}": the Redis backend is closed`,
      );
    }
  }

  close(): void {
    this.closed = true;
    this.listeners = [];
    this.subscriber.close();
    this.commands.close();
  }
}

/**
 * Carries `Broadcast` messages through Redis pub/sub, on two connections
 * (one publishes, one subscribes).
 *
 * - At most once: a message published while a subscriber is cut off, or
 *   while Redis restarts, is not delivered to it, and nothing says so.
 *   It keeps no history: `join`/`subscribe` with `since` throw an error
 *   saying so (use {@linkcode RedisStreamBackend}), and `publish()`
 *   resolves with `null`.
 * - Reconnects by itself after the server restarts and subscribes again.
 * - While the server is away, `publish` rejects with an error saying so:
 *   nothing is queued or dropped silently.
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
  /** Whether publications carry their time (the `publishTime` option). */
  readonly publishTime: boolean;
  #redis: RedisPubSub;

  /**
   * Creates the backend; it connects on first use.
   *
   * @param options The server, the channel prefix and the time limits.
   * @throws {TypeError} If the URL is not a `redis:` or `rediss:` URL.
   */
  constructor(options: RedisBackendOptions) {
    this.publishTime = options.publishTime ?? false;
    this.#redis = new RedisPubSub(options, "RedisBackend");
  }

  /**
   * Registers a listener, and starts connecting (a failure is logged;
   * `publish`/`subscribe` try again and report it).
   *
   * @param listener Receives messages.
   */
  connect(listener: BackendListener): Promise<void> {
    return this.#redis.connect(listener);
  }

  /**
   * Subscribes to `channel` in Redis (once, however many ask).
   *
   * @param channel The channel.
   * @throws {Error} If Redis is away.
   */
  async subscribe(channel: string): Promise<void> {
    await this.#redis.subscribe(
      channel,
      this.#redis.prefix + channel,
      (raw: Buffer) => {
        const message = decodeMessage(raw);
        if (message === null) return;
        for (const listener of this.#redis.listeners) {
          listener(channel, message);
        }
      },
    );
  }

  /**
   * Unsubscribes from `channel` when nobody here needs it any more.
   *
   * @param channel The channel.
   */
  async unsubscribe(channel: string): Promise<void> {
    await this.#redis.unsubscribe(channel, this.#redis.prefix + channel);
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
    this.#redis.checkOpen(channel);
    await this.#redis.commands.command(
      `publish to "${channel}"`,
      (client) =>
        client.publish(
          this.#redis.prefix + channel,
          encodeMessage(message, this.publishTime),
        ),
    );
  }

  /** Closes both connections at once. */
  close(): Promise<void> {
    this.#redis.close();
    return Promise.resolve();
  }
}

// Every key of a channel shares one hash tag ({channel}), so the scripts
// also run on Redis Cluster. A new epoch is made from Redis's clock (s and
// µs, in base 16): scripts run one at a time, so two never share it.
const NEW_EPOCH = `
local function new_epoch()
  local t = redis.call('TIME')
  return string.format('%x', tonumber(t[1])) .. string.format('%05x', tonumber(t[2]))
end
`;
// KEYS: stream, meta, live channel. ARGV: the payloads of one batch (see
// _publish_batches.ts), in order. One offset each; the clock, the
// expiries and the trim once per batch. The limits are written into the
// script (one per backend configuration): fewer arguments to send and parse
// on the hot path. Returns {epoch, offset of the first}.
function publishScript(size: number, ttl: number, epochTtl: number): string {
  return NEW_EPOCH + `
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = new_epoch()
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 's', 0)
end
local n = #ARGV
local first = redis.call('HINCRBY', KEYS[2], 's', n) - n + 1
local t = redis.call('TIME')
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local prefix = epoch .. ':'
for i = 1, n - 1 do
  local offset = first + i - 1
  redis.call('XADD', KEYS[1], offset .. '-1', 't', now, 'd', ARGV[i])
  redis.call('PUBLISH', KEYS[3], prefix .. offset .. ':' .. ARGV[i])
end
local last = first + n - 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ${size}, last .. '-1', 't', now, 'd', ARGV[n])
redis.call('PUBLISH', KEYS[3], prefix .. last .. ':' .. ARGV[n])
redis.call('EXPIRE', KEYS[1], ${ttl})
redis.call('EXPIRE', KEYS[2], ${epochTtl})
return {epoch, first}
`;
}

// KEYS: stream, meta. ARGV: since epoch ('' for none), since offset, size,
// ttl ms, (unused), epoch ttl s. Returns {epoch, top, recovered, payloads...}.
const HISTORY = NEW_EPOCH + `
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = new_epoch()
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 's', 0)
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
local top = tonumber(redis.call('HGET', KEYS[2], 's'))
local since = tonumber(ARGV[2])
if ARGV[1] == '' or ARGV[1] ~= epoch or since > top then return {epoch, top, 0} end
local missed = top - since
if missed == 0 then return {epoch, top, 1} end
if missed > tonumber(ARGV[3]) then return {epoch, top, 0} end
local entries = redis.call('XRANGE', KEYS[1], (since + 1) .. '-1', '+')
if #entries ~= missed then return {epoch, top, 0} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now - tonumber(entries[1][2][2]) > tonumber(ARGV[4]) then return {epoch, top, 0} end
local out = {epoch, top, 1}
for i = 1, #entries do out[#out + 1] = entries[i][2][4] end
return out
`;

// Presence: a hash client -> entry JSON, and a sorted set client -> expiry
// (ms, Redis's clock). A sweep drops expired entries and publishes them as
// one leave diff.
const SWEEP = `
local function sweep(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  if #expired == 0 then return end
  local found = {}
  for i = 1, #expired do
    local v = redis.call('HGET', KEYS[1], expired[i])
    if v then found[#found + 1] = v end
    redis.call('HDEL', KEYS[1], expired[i])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if #found > 0 then
    redis.call('PUBLISH', ARGV[1], '{"joins":[],"leaves":[' .. table.concat(found, ',') .. ']}')
  end
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
`;

// KEYS: presence, expiry. ARGV: diff channel, ttl ms, announce (1/0),
// then client, entry JSON pairs. Adds or refreshes; entries that were
// missing (new, or swept while this node stalled) are announced as joins.
const PRESENCE_ADD = SWEEP + `
local joins = {}
for i = 4, #ARGV, 2 do
  if redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then joins[#joins + 1] = ARGV[i + 1] end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
sweep(now)
if #joins > 0 then
  redis.call('PUBLISH', ARGV[1], '{"joins":[' .. table.concat(joins, ',') .. '],"leaves":[]}')
end
return #joins
`;

// KEYS: presence, expiry. ARGV: diff channel, clients...
const PRESENCE_REMOVE = `
local found = {}
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then found[#found + 1] = v end
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
if #found > 0 then
  redis.call('PUBLISH', ARGV[1], '{"joins":[],"leaves":[' .. table.concat(found, ',') .. ']}')
end
return #found
`;

// KEYS: presence, expiry. ARGV: diff channel.
const PRESENCE_LIST = SWEEP + `
sweep(now)
return redis.call('HVALS', KEYS[1])
`;

const COLON = 0x3a;
const textDecoder = new TextDecoder();

/**
 * Carries `Broadcast` messages through Redis with history and presence:
 * every publication is appended to a Redis stream of its channel (`XADD
 * ... MAXLEN ~ size`) and numbered, so a client that reconnects with its
 * last position gets exactly what it missed.
 *
 * - `publish()` resolves with `{ epoch, offset }`: offsets count from 1 per
 *   channel; the epoch changes when the channel's history was lost (Redis
 *   flushed or restarted without persistence, or `epochTtlSeconds` idle).
 * - `join(channel, ws, { since })` / `subscribe(channel, { since })`:
 *   subscribe first, then read the stream (`XRANGE`) in one script with
 *   the counter, so the replay and live delivery meet with no gap and no
 *   duplicate; `recovered: false` and nothing replayed when the history no
 *   longer holds everything since `since`.
 * - Order: publications of a channel are numbered and delivered in one
 *   order for every subscriber (one script appends and publishes).
 * - Live delivery is Redis pub/sub on one subscriber connection (lower
 *   latency than blocking stream reads, see the benchmark notes). A live
 *   message lost while that connection was cut shows as a gap in the
 *   offsets when the next one arrives: `Broadcast` fills it from the
 *   stream before delivering anything after it. Clients that reconnect
 *   with `since` get what they missed from the stream too.
 * - Presence across nodes with heartbeats and a TTL (see `presence`).
 * - Two connections per backend, whatever the number of channels.
 *
 * @example
 * ```ts ignore
 * import { Broadcast } from "@wsapi/wsapi/broadcast";
 * import { RedisStreamBackend } from "@wsapi/wsapi/broadcast/redis";
 *
 * const broadcast = new Broadcast(new RedisStreamBackend({ url: "redis://127.0.0.1:6379" }));
 * const position = await broadcast.publish("room", "hello");
 * const events = broadcast.subscribe("room", { since: { epoch: position.epoch, offset: 0 } });
 * ```
 */
export class RedisStreamBackend implements HistoryBackend {
  /** Whether publications carry their time (the `publishTime` option). */
  readonly publishTime: boolean;
  #redis: RedisPubSub;
  #size: number;
  #ttlSeconds: number;
  #epochTtl: number;
  #presenceTtlMs: number;
  // This node's presence entries per channel, refreshed by heartbeat.
  #tracked = new Map<string, Map<string, string>>();
  #watchers = new Map<string, Set<(diff: PresenceDiff) => void>>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #scripts = new Map<string, string>();
  #keys = new Map<string, [string, string, string]>();
  #publishScript: string;
  #batches = new PublishBatches((channel, payloads) =>
    this.#publishBatch(channel, payloads)
  );

  /**
   * Creates the backend; it connects on first use.
   *
   * @param options The server, history, presence and time limits.
   * @throws {TypeError} If the URL is not a `redis:` or `rediss:` URL.
   * @throws {RangeError} If a limit is out of range.
   */
  constructor(options: RedisStreamBackendOptions) {
    this.publishTime = options.publishTime ?? false;
    this.#redis = new RedisPubSub(options, "RedisStreamBackend");
    this.#size = options.history?.size ?? 1000;
    this.#ttlSeconds = options.history?.ttlSeconds ?? 120;
    this.#epochTtl = options.epochTtlSeconds ?? 7 * 24 * 3600;
    const presenceTtl = options.presence?.ttlSeconds ?? 30;
    if (!Number.isSafeInteger(this.#size) || this.#size < 0) {
      throw new RangeError(
        `Cannot create RedisStreamBackend: history.size must be an integer >= 0, got ${this.#size}`,
      );
    }
    for (
      const [name, value] of [
        ["history.ttlSeconds", this.#ttlSeconds],
        ["epochTtlSeconds", this.#epochTtl],
        ["presence.ttlSeconds", presenceTtl],
      ] as const
    ) {
      if (!(value > 0)) {
        throw new RangeError(
          `Cannot create RedisStreamBackend: ${name} must be > 0, got ${value}`,
        );
      }
    }
    this.#ttlSeconds = Math.ceil(this.#ttlSeconds);
    this.#epochTtl = Math.ceil(this.#epochTtl);
    this.#presenceTtlMs = Math.round(presenceTtl * 1000);
    this.#publishScript = publishScript(
      this.#size,
      this.#ttlSeconds,
      this.#epochTtl,
    );
  }

  #key(channel: string, suffix: string): string {
    return `${this.#redis.prefix}{${channel}}:${suffix}`;
  }

  // Built once per channel: publish is the hot path.
  #streamKeys(channel: string): [stream: string, meta: string, live: string] {
    let keys = this.#keys.get(channel);
    if (keys === undefined) {
      if (this.#keys.size >= 10_000) this.#keys.clear(); // a bound, not a leak
      keys = [
        this.#key(channel, "stream"),
        this.#key(channel, "meta"),
        this.#key(channel, "live"),
      ];
      this.#keys.set(channel, keys);
    }
    return keys;
  }

  /**
   * Registers a listener, and starts connecting (a failure is logged;
   * `publish`/`subscribe` try again and report it).
   *
   * @param listener Receives messages with their positions.
   */
  connect(listener: BackendListener): Promise<void> {
    return this.#redis.connect(listener);
  }

  /**
   * Subscribes to `channel`'s live publications (once, however many ask).
   *
   * @param channel The channel.
   * @throws {Error} If Redis is away.
   */
  async subscribe(channel: string): Promise<void> {
    await this.#redis.subscribe(
      channel,
      this.#key(channel, "live"),
      (raw: Buffer) => this.#live(channel, raw),
    );
  }

  #live(channel: string, raw: Uint8Array): void {
    // "epoch:offset:" then the message as RedisBackend encodes it.
    const first = raw.indexOf(COLON);
    const second = raw.indexOf(COLON, first + 1);
    if (first < 0 || second < 0) return;
    const message = decodeMessage(raw.subarray(second + 1));
    if (message === null) return;
    const position = {
      epoch: textDecoder.decode(raw.subarray(0, first)),
      offset: Number(textDecoder.decode(raw.subarray(first + 1, second))),
    };
    for (const listener of this.#redis.listeners) {
      listener(channel, message, position);
    }
  }

  /**
   * Stops receiving `channel` when nobody here needs it any more.
   *
   * @param channel The channel.
   */
  async unsubscribe(channel: string): Promise<void> {
    await this.#redis.unsubscribe(channel, this.#key(channel, "live"));
  }

  async #eval(
    action: string,
    script: string,
    keys: string[],
    args: (string | Uint8Array)[],
  ): Promise<unknown> {
    return await this.#redis.commands.command(action, async (client) => {
      let sha = this.#scripts.get(script);
      if (sha !== undefined) {
        try {
          return await client.sendCommand([
            "EVALSHA",
            sha,
            String(keys.length),
            ...keys,
            ...args as string[],
          ]);
        } catch (error) {
          // Scripts are gone after a Redis restart: load it again.
          if (!String((error as Error).message).startsWith("NOSCRIPT")) {
            throw error;
          }
        }
      }
      sha = String(await client.scriptLoad(script));
      this.#scripts.set(script, sha);
      return await client.sendCommand([
        "EVALSHA",
        sha,
        String(keys.length),
        ...keys,
        ...args as string[],
      ]);
    });
  }

  /**
   * Appends to the channel's stream and publishes, in one script.
   *
   * @param channel The channel.
   * @param message The message.
   * @returns Its position.
   * @throws {Error} If Redis is away: nothing was published.
   */
  async publish(
    channel: string,
    message: BroadcastMessage,
  ): Promise<StreamPosition> {
    this.#redis.checkOpen(channel);
    return await this.#batches.add(
      channel,
      encodeMessage(message, this.publishTime),
    );
  }

  // One batch of publications to `channel` (see _publish_batches.ts).
  async #publishBatch(
    channel: string,
    payloads: Uint8Array[],
  ): Promise<{ epoch: string; first: number }> {
    const reply = await this.#eval(
      `publish to "${channel}"`,
      this.#publishScript,
      this.#streamKeys(channel),
      payloads,
    ) as [Uint8Array, number];
    return { epoch: textDecoder.decode(reply[0]), first: Number(reply[1]) };
  }

  /**
   * Reads the channel's publications after `since`, all or nothing.
   *
   * @param channel The channel.
   * @param since The reader's last position, or null for the current one.
   * @returns What was missed, and the current position.
   * @throws {Error} If Redis is away.
   */
  async history(
    channel: string,
    since: StreamPosition | null,
  ): Promise<HistoryResult> {
    const reply = await this.#eval(
      `read the history of "${channel}"`,
      HISTORY,
      [this.#key(channel, "stream"), this.#key(channel, "meta")],
      [
        since?.epoch ?? "",
        String(since?.offset ?? 0),
        String(this.#size),
        String(this.#ttlSeconds * 1000),
        "",
        String(this.#epochTtl),
      ],
    ) as [Uint8Array, number, number, ...Uint8Array[]];
    const position = {
      epoch: textDecoder.decode(reply[0]),
      offset: Number(reply[1]),
    };
    const recovered = Number(reply[2]) === 1;
    const publications = [];
    for (let i = 3; i < reply.length; i++) {
      const message = decodeMessage(reply[i] as Uint8Array);
      if (message === null) {
        return { recovered: false, publications: [], position };
      }
      publications.push({ message, offset: since!.offset + i - 2 });
    }
    return { recovered, publications, position };
  }

  /**
   * Adds presence entries of this node; heartbeats keep them alive.
   *
   * @param channel The channel.
   * @param entries The entries.
   * @throws {Error} If Redis is away.
   */
  async presenceAdd(channel: string, entries: PresenceEntry[]): Promise<void> {
    let mine = this.#tracked.get(channel);
    if (mine === undefined) this.#tracked.set(channel, mine = new Map());
    const pairs: string[] = [];
    for (const entry of entries) {
      const json = JSON.stringify(entry);
      mine.set(entry.client, json);
      pairs.push(entry.client, json);
    }
    this.#startHeartbeat();
    try {
      await this.#presenceAdd(channel, pairs);
    } catch (error) {
      for (const entry of entries) mine.delete(entry.client);
      if (mine.size === 0) this.#tracked.delete(channel);
      throw error;
    }
  }

  #presenceAdd(channel: string, pairs: string[]): Promise<unknown> {
    return this.#eval(
      `track presence on "${channel}"`,
      PRESENCE_ADD,
      [this.#key(channel, "presence"), this.#key(channel, "presence-exp")],
      [
        this.#key(channel, "presence-diff"),
        String(this.#presenceTtlMs),
        "1",
        ...pairs,
      ],
    );
  }

  /**
   * Removes presence entries.
   *
   * @param channel The channel.
   * @param clients The entries' client ids.
   * @throws {Error} If Redis is away (they then expire after the TTL).
   */
  async presenceRemove(channel: string, clients: string[]): Promise<void> {
    const mine = this.#tracked.get(channel);
    for (const client of clients) mine?.delete(client);
    if (mine?.size === 0) this.#tracked.delete(channel);
    this.#stopHeartbeatIfIdle();
    await this.#eval(
      `untrack presence on "${channel}"`,
      PRESENCE_REMOVE,
      [this.#key(channel, "presence"), this.#key(channel, "presence-exp")],
      [this.#key(channel, "presence-diff"), ...clients],
    );
  }

  /**
   * The live presence entries of `channel`, from every node.
   *
   * @param channel The channel.
   * @returns The entries.
   * @throws {Error} If Redis is away.
   */
  async presenceList(channel: string): Promise<PresenceEntry[]> {
    const reply = await this.#eval(
      `read the presence of "${channel}"`,
      PRESENCE_LIST,
      [this.#key(channel, "presence"), this.#key(channel, "presence-exp")],
      [this.#key(channel, "presence-diff")],
    ) as Uint8Array[];
    return reply.map((raw) =>
      JSON.parse(textDecoder.decode(raw)) as PresenceEntry
    );
  }

  /**
   * Delivers the presence diffs of `channel`, from every node.
   *
   * @param channel The channel.
   * @param listener Receives the diffs.
   * @returns A function that stops it.
   * @throws {Error} If Redis is away.
   */
  async presenceWatch(
    channel: string,
    listener: (diff: PresenceDiff) => void,
  ): Promise<() => Promise<void>> {
    let set = this.#watchers.get(channel);
    const first = set === undefined;
    if (set === undefined) this.#watchers.set(channel, set = new Set());
    set.add(listener);
    const diffChannel = this.#key(channel, "presence-diff");
    if (first) {
      try {
        await this.#redis.subscriber.command(
          `watch the presence of "${channel}"`,
          (client) =>
            client.subscribe(diffChannel, (raw: Buffer) => {
              const parsed = JSON.parse(textDecoder.decode(raw)) as {
                joins: PresenceEntry[];
                leaves: PresenceEntry[];
              };
              const diff = { channel, ...parsed };
              for (const watcher of this.#watchers.get(channel) ?? []) {
                watcher(diff);
              }
            }, true),
        );
      } catch (error) {
        set.delete(listener);
        if (set.size === 0) this.#watchers.delete(channel);
        throw error;
      }
    }
    // Someone must sweep out the entries of dead nodes for the diffs.
    this.#startHeartbeat();
    return async () => {
      set!.delete(listener);
      if (set!.size > 0) return;
      this.#watchers.delete(channel);
      this.#stopHeartbeatIfIdle();
      if (this.#redis.subscriber.isReady) {
        await this.#redis.subscriber.command(
          `stop watching the presence of "${channel}"`,
          (client) => client.unsubscribe(diffChannel),
        );
      }
    };
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined || this.#redis.closed) return;
    this.#heartbeat = setInterval(
      () => this.#beat(),
      Math.max(50, Math.floor(this.#presenceTtlMs / 3)),
    );
  }

  #stopHeartbeatIfIdle(): void {
    if (this.#tracked.size > 0 || this.#watchers.size > 0) return;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #beat(): void {
    const channels = new Set([
      ...this.#tracked.keys(),
      ...this.#watchers.keys(),
    ]);
    for (const channel of channels) {
      const pairs = [...(this.#tracked.get(channel) ?? [])].flat();
      // Refreshes this node's entries and sweeps out the dead nodes'.
      this.#presenceAdd(channel, pairs).catch(() => {
        // Logged by the connection; the entries expire if it stays away.
      });
    }
  }

  /** Stops the heartbeat and closes both connections at once. */
  close(): Promise<void> {
    this.#redis.close();
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#tracked.clear();
    this.#watchers.clear();
    return Promise.resolve();
  }
}
