// deno-lint-ignore-file no-import-prefix -- see the redis import below
// One Redis connection for one role (commands, or pub/sub), with the
// failure behaviour both Redis backends promise: connecting is bounded in
// time, a missing Deno permission fails at once with the flag to add,
// commands fail at once while the server is away (nothing is queued), a
// command that gets no answer fails after a bounded time, and every outage
// is logged once. Destroying it leaves no timer behind, so a process can
// always exit.
import { Buffer } from "node:buffer";
// A full specifier, not a bare name: whoever imports this file by path (not
// through our import map) resolves it too.
// @ts-types="./_redis_client.d.ts"
import { createClient, RESP_TYPES } from "npm:redis@^6";
import type { BroadcastMessage } from "./_broadcast_backend.ts";

type Client = ReturnType<typeof createClient>;

export interface RedisConnectionOptions {
  url: string;
  /** The URL without credentials, for messages. */
  safeUrl: string;
  /** Who owns it, for messages: "RedisStreamBackend (subscriber)". */
  role: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
  onError: (error: Error) => void;
}

function permissionHint(error: Error): string | null {
  // Deno's permission errors (node-redis reads env vars on connect, and
  // dials the server): name the flag instead of retrying forever.
  if (error.name !== "NotCapable" && error.name !== "PermissionDenied") {
    return null;
  }
  const env = /env access to "([^"]+)"/.exec(error.message);
  if (env) return `run with --allow-env=${env[1]} (or --allow-env)`;
  const net = /net access to "?([^"\s,]+)"?/.exec(error.message);
  if (net) return `run with --allow-net=${net[1]}`;
  return "grant the permission it names";
}

export class RedisConnection {
  readonly #options: RedisConnectionOptions;
  #client: Client | null = null;
  #connecting: Promise<Client> | null = null;
  #reported = false;
  #closed = false;
  // Rejected by close(): a connection attempt under way ends at once.
  #closing = Promise.withResolvers<never>();

  constructor(options: RedisConnectionOptions) {
    this.#options = options;
  }

  get isReady(): boolean {
    return this.#client?.isReady ?? false;
  }

  /** The connected client (with bytes as Buffers), connecting if needed. */
  client(): Promise<Client> {
    if (this.#closed) {
      return Promise.reject(
        new Error(
          `Cannot use ${this.#options.role}: it is closed`,
        ),
      );
    }
    this.#connecting ??= this.#connect().catch((error) => {
      this.#connecting = null;
      throw error;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const { safeUrl, role, connectTimeoutMs } = this.#options;
    const deadline = Date.now() + connectTimeoutMs;
    let lastError: Error | null = null;
    // Attempts of our own until the deadline (node-redis's reconnection
    // timers cannot be cancelled, and would hold a closing process).
    for (let attempt = 0;; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.#closed) break;
      try {
        return await this.#attempt(remaining);
      } catch (error) {
        lastError = error as Error;
        if (this.#closed || lastError.message.startsWith("Cannot ")) break;
      }
      const pause = Math.min(50 * 2 ** attempt, deadline - Date.now());
      if (pause <= 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((resolve) => timer = setTimeout(resolve, pause)),
        this.#closing.promise,
      ]).catch(() => {}).finally(() => clearTimeout(timer));
    }
    const error = this.#closed
      ? new Error(`Cannot use ${role}: it was closed`)
      : lastError?.message.startsWith("Cannot ")
      ? lastError
      : new Error(
        `Cannot connect to Redis at ${safeUrl} (${role}): no connection within ${connectTimeoutMs} ms${
          lastError ? ` (${lastError.message})` : ""
        }: check that the server runs and the URL (REDIS_URL) is right`,
        { cause: lastError ?? undefined },
      );
    if (!this.#closed) {
      this.#options.onError(error);
      this.#reported = true;
    }
    throw error;
  }

  // One connection attempt; once connected, node-redis reconnects by itself.
  async #attempt(timeoutMs: number): Promise<Client> {
    const { url, safeUrl, role, maxReconnectDelayMs } = this.#options;
    let connected = false;
    let permission: Error | null = null;
    const client = createClient({
      url,
      // Fail commands at once while disconnected instead of queueing them.
      disableOfflineQueue: true,
      // Redis Enterprise's maintenance notices: their handshake reads an
      // env var, which fails without --allow-env; nothing here needs them.
      maintNotifications: "disabled",
      socket: {
        connectTimeout: Math.max(1, Math.round(timeoutMs)),
        reconnectStrategy: (retries: number, cause: Error) => {
          // Before the first connection: fail this attempt (we retry).
          if (!connected || this.#closed || permissionHint(cause) !== null) {
            return cause;
          }
          return Math.min(50 * 2 ** Math.min(retries, 10), maxReconnectDelayMs);
        },
      },
    }).withTypeMapping({
      [RESP_TYPES.BLOB_STRING]: Buffer,
    }) as unknown as Client;
    client.on("error", (error: Error) => {
      const hint = permissionHint(error);
      if (hint !== null) {
        permission ??= new Error(
          `Cannot connect to Redis at ${safeUrl} (${role}): Deno denied it: ${error.message}: ${hint}`,
          { cause: error },
        );
      }
      if (connected) this.#report(error);
    });
    client.on("ready", () => {
      connected = true;
      if (this.#reported) {
        console.info(`${role}: connected to Redis at ${safeUrl} again`);
      }
      this.#reported = false;
    });
    this.#client = client;
    const connecting = client.connect();
    connecting.catch(() => {}); // raced below; destroy() may reject it late
    this.#closing.promise.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A server that accepts but never answers the handshake.
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([connecting, this.#closing.promise, silent]);
      connected = true;
      if (this.#closed) throw new Error(`Cannot use ${role}: it was closed`);
      return client;
    } catch (error) {
      this.#client = null;
      try {
        client.destroy();
      } catch {
        // never opened
      }
      throw permission ?? error;
    } finally {
      clearTimeout(timer);
    }
  }

  #report(error: Error): void {
    // Once per outage, not once per reconnection attempt.
    if (this.#reported || this.#closed) return;
    this.#reported = true;
    this.#options.onError(
      new Error(
        `${this.#options.role}: Redis at ${this.#options.safeUrl} failed: ${error.message}: reconnecting; publish/join fail until it is back`,
        { cause: error },
      ),
    );
  }

  /** Runs a command; rejects when not connected or after the command timeout. */
  async command<T>(
    action: string,
    run: (client: Client) => Promise<T>,
  ): Promise<T> {
    const client = await this.client();
    const { safeUrl, commandTimeoutMs } = this.#options;
    if (!client.isReady) {
      throw new Error(
        `Cannot ${action}: Redis at ${safeUrl} is not connected (reconnecting): nothing was sent; retry once it is back`,
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        run(client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `Cannot ${action}: Redis at ${safeUrl} did not answer within ${commandTimeoutMs} ms: it may or may not have been done`,
                ),
              ),
            commandTimeoutMs,
          );
        }),
      ]);
    } catch (error) {
      const reason = error as Error;
      if (reason.message.startsWith("Cannot ")) throw reason;
      throw new Error(
        `Cannot ${action}: Redis at ${safeUrl} failed: ${reason.message}: it may or may not have been done`,
        { cause: reason },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes at once (pending commands fail); idempotent. */
  close(): void {
    this.#closed = true;
    this.#closing.reject(
      new Error(`Cannot connect ${this.#options.role}: it was closed`),
    );
    const client = this.#client;
    this.#client = null;
    if (client !== null && (client.isOpen || client.isReady)) client.destroy();
    else if (client !== null) {
      try {
        client.destroy();
      } catch {
        // never connected: nothing to release
      }
    }
  }
}

/** Checks a redis:// URL; returns it without credentials, for messages. */
export function safeRedisUrl(url: string, owner: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    parsed = new URL("invalid:");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(
      `Cannot create ${owner}: ${
        JSON.stringify(url)
      } is not a redis:// or rediss:// URL`,
    );
  }
  return `${parsed.protocol}//${parsed.host}`;
}

// One byte says what the payload is: the rest is the text (UTF-8) or bytes.
// A payload with its publish time (`publishTime: true`) is "@", the time (a
// big-endian float64, ms since the epoch), then the payload as before.
// Readers take both: a stream written before keeps being read. (A reader of
// a version before the time existed drops "@" payloads as not its own.)
const TEXT = 0x74; // "t"
const BYTES = 0x62; // "b"
const JSON_TEXT = 0x6a; // "j"
const TIMED = 0x40; // "@"
const TIME_BYTES = 9;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeMessage(
  message: BroadcastMessage,
  withTime = false,
): Buffer {
  const body = message.kind === "bytes"
    ? message.data
    : encoder.encode(message.data);
  const time = withTime ? message.time : undefined;
  const at = time === undefined ? 0 : TIME_BYTES;
  // node-redis sends a Buffer as raw bytes.
  const out = Buffer.allocUnsafe(at + body.length + 1);
  if (time !== undefined) {
    out[0] = TIMED;
    out.writeDoubleBE(time, 1);
  }
  out[at] = message.kind === "text"
    ? TEXT
    : message.kind === "bytes"
    ? BYTES
    : JSON_TEXT;
  out.set(body, at + 1);
  return out;
}

export function decodeMessage(raw: Uint8Array): BroadcastMessage | null {
  if (raw[0] === TIMED) {
    if (raw.length <= TIME_BYTES || raw[TIME_BYTES] === TIMED) return null;
    const message = decodeMessage(raw.subarray(TIME_BYTES));
    if (message === null) return null;
    message.time = new DataView(raw.buffer, raw.byteOffset + 1, 8)
      .getFloat64(0);
    return message;
  }
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
