// A socket seen through the app's per-connection policy: the rate limit,
// the maximum lifetime and the observers' counters. Put between the
// runtime's socket and the connection's driver only for connections that
// need it, so a connection without limits or observers pays nothing.
import type { SessionInfo, SessionObserver } from "./observer.ts";
import type { WebSocketLike } from "./_socket_driver.ts";
import { TokenBucket } from "./_rate_limit.ts";
import { utf8Length } from "./_utf8.ts";
import type { RateLimit } from "./limits.ts";

/** What a metered socket does to the connection and reports about it. */
export interface MeterHooks {
  /** Ends the connection from the server side (close code and reason). */
  end(code: number, reason: string): void;
  /**
   * Decides what a message over the rate limit does (its data and size);
   * returns whether the message is still delivered. Unset: the connection
   * ends with 1008. On a protocol route it answers with an `error` message
   * instead (see Admission.upgrade in _operations.ts).
   */
  overLimit?: (data: unknown, size: number) => boolean;
  /** The session is over: counters and close code, for logs and observers. */
  closed(info: SessionInfo): void;
}

/** The policy of one route's connections. */
export interface MeterPolicy {
  route: string;
  rateLimit: RateLimit | undefined;
  /** Milliseconds, or 0 for no limit. */
  maxLifetimeMs: number;
  /** Whether anyone reads the counters (observers, the access log). */
  counting: boolean;
}

const RATE_LIMITED = "Rate limit exceeded";
const LIFETIME_OVER = "Maximum connection lifetime reached";
// The lifetime ends in its last tenth, at random: clients that connected
// together (after a deploy) do not all reconnect in the same second.
const LIFETIME_JITTER = 0.1;

function sizeOf(data: unknown): number {
  if (typeof data === "string") return utf8Length(data);
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/**
 * Wraps one runtime socket. The driver registers itself as the listener;
 * this listens on the real socket in its place and passes on what the
 * policy lets through.
 */
export class MeteredSocket implements WebSocketLike, EventListenerObject {
  #socket: WebSocketLike;
  #policy: MeterPolicy;
  #hooks: MeterHooks;
  #observers: SessionObserver[];
  #onMessage: EventListenerOrEventListenerObject | null = null;
  #onClose: EventListenerOrEventListenerObject | null = null;
  #bucket: TokenBucket | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started = performance.now();
  #closed = false;
  #limited = false;
  messagesReceived = 0;
  bytesReceived = 0;
  messagesSent = 0;
  bytesSent = 0;
  sendBufferHighWater = 0;

  constructor(
    socket: WebSocketLike,
    policy: MeterPolicy,
    hooks: MeterHooks,
    observers: SessionObserver[],
  ) {
    this.#socket = socket;
    this.#policy = policy;
    this.#hooks = hooks;
    this.#observers = observers;
    this.#bucket = policy.rateLimit === undefined
      ? null
      : new TokenBucket(policy.rateLimit, this.#started);
    // The real socket's close is always watched: it ends the session.
    socket.addEventListener("close", this);
    if (policy.maxLifetimeMs > 0) {
      const ms = policy.maxLifetimeMs *
        (1 - LIFETIME_JITTER * Math.random());
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        hooks.end(1001, LIFETIME_OVER);
      }, ms);
    }
  }

  get readyState(): number {
    return this.#socket.readyState;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  get binaryType(): BinaryType {
    return this.#socket.binaryType;
  }

  set binaryType(value: BinaryType) {
    this.#socket.binaryType = value;
  }

  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    if (this.#policy.counting) {
      const buffered = this.#socket.bufferedAmount;
      if (buffered > this.sendBufferHighWater) {
        this.sendBufferHighWater = buffered;
      }
    }
    this.#socket.send(data);
    if (this.#policy.counting) {
      const size = sizeOf(data);
      this.messagesSent++;
      this.bytesSent += size;
      for (const observer of this.#observers) observer.sent?.(size);
    }
  }

  close(code?: number, reason?: string): void {
    this.#socket.close(code, reason);
  }

  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
  ): void {
    if (type === "message") {
      this.#onMessage = listener;
      this.#socket.addEventListener("message", this);
    } else if (type === "close") {
      this.#onClose = listener;
    } else {
      this.#socket.addEventListener(type, listener as EventListenerObject);
    }
  }

  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
  ): void {
    if (type === "message") {
      this.#onMessage = null;
      this.#socket.removeEventListener("message", this);
    } else if (type === "close") {
      this.#onClose = null;
    } else {
      this.#socket.removeEventListener(type, listener as EventListenerObject);
    }
  }

  handleEvent(event: Event): void {
    if (event.type === "message") this.#message(event as MessageEvent);
    else if (event.type === "close") this.#close(event as CloseEvent);
  }

  #message(event: MessageEvent): void {
    // After the limit closed the socket, what is still in flight is dropped.
    if (this.#limited) return;
    const bucket = this.#bucket;
    const size = bucket !== null || this.#policy.counting
      ? sizeOf(event.data)
      : 0;
    if (bucket !== null && !bucket.take(size, performance.now())) {
      const overLimit = this.#hooks.overLimit;
      if (overLimit === undefined || !overLimit(event.data, size)) {
        if (overLimit === undefined) {
          this.#limited = true;
          this.#hooks.end(1008, RATE_LIMITED);
        }
        return;
      }
    }
    if (this.#policy.counting) {
      this.messagesReceived++;
      this.bytesReceived += size;
      for (const observer of this.#observers) observer.received?.(size);
    }
    deliver(this.#onMessage, event);
  }

  #close(event: CloseEvent): void {
    if (this.#closed) return; // Deno may report a close twice (idleTimeout)
    this.#closed = true;
    this.#socket.removeEventListener("close", this);
    clearTimeout(this.#timer);
    deliver(this.#onClose, event);
    // A peer that vanished shows up as code 0 in Deno.
    const code = event.code === 0 ? 1006 : event.code;
    this.#hooks.closed({
      route: this.#policy.route,
      code,
      reason: event.reason,
      durationMs: performance.now() - this.#started,
      messagesReceived: this.messagesReceived,
      bytesReceived: this.bytesReceived,
      messagesSent: this.messagesSent,
      bytesSent: this.bytesSent,
      sendBufferHighWater: this.sendBufferHighWater,
    });
  }
}

function deliver(
  listener: EventListenerOrEventListenerObject | null,
  event: Event,
): void {
  if (listener === null) return;
  if (typeof listener === "function") listener(event);
  else listener.handleEvent(event);
}
