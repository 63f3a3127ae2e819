// The adapter between a WHATWG-style socket (Deno's, or the in-memory pair)
// and a connection: socket events feed one bounded inbound queue, sends wait
// for the outbound buffer to drain. One object per connection, registered as
// the listener itself (`handleEvent`), so no closure is allocated per socket
// or per message.
import { WebSocketDisconnect } from "./errors.ts";
import { utf8Exceeds } from "./_utf8.ts";

/**
 * The part of the WHATWG `WebSocket` interface the library drives: what
 * `Deno.upgradeWebSocket` returns, and what `createSocketPair()` provides.
 *
 * @example Any WebSocket is one
 * ```ts
 * import type { WebSocketLike } from "@wsapi/wsapi";
 * import { createSocketPair } from "@wsapi/wsapi/testing";
 * import assert from "node:assert/strict";
 *
 * const [server, client]: WebSocketLike[] = createSocketPair();
 * assert.equal(server.readyState, 0);
 * await new Promise((resolve) => setTimeout(resolve, 0));
 * assert.equal(client.readyState, 1);
 * client.close();
 * ```
 */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes handed to `send()` and not yet written out. */
  readonly bufferedAmount: number;
  /** How binary messages are delivered; the library sets `"arraybuffer"`. */
  binaryType: BinaryType;
  /** Queues a message. */
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Adds an event listener (`open`, `message`, `close`, `error`). */
  addEventListener(type: string, listener: EventListenerObject): void;
  /** Removes an event listener. */
  removeEventListener(type: string, listener: EventListenerObject): void;
}

/** Where the connection ended, as queued for `receive()`. */
export class Disconnect {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    this.code = code;
    this.reason = reason;
  }
}

/** What `next()` yields: a text or binary message, or the end. */
export type Inbound = string | Uint8Array | Disconnect;

/**
 * Who takes the next item: a promise's resolve function, or an object that
 * waits without a promise of its own (the message iterators).
 */
export type Receiver = ((item: Inbound) => void) | {
  deliver(item: Inbound): void;
};

function hand(receiver: Receiver, item: Inbound): void {
  if (typeof receiver === "function") receiver(item);
  else receiver.deliver(item);
}

/** Limits applied by the driver. */
export interface DriverLimits {
  maxMessageSize: number;
  maxQueuedMessages: number;
  /** Memory the unread messages may hold, as {@linkcode queuedCost} counts it. */
  maxQueuedBytes: number;
  sendHighWaterMark: number;
  /** Milliseconds a socket may take to open. @default {5000} */
  openTimeoutMs?: number;
}

const OPEN = 1;
// What a queued message holds in V8 beyond its payload, measured with
// Deno.memoryUsage() over 100,000 of each: a string about 26 bytes (its
// header and the queue's slot), an ArrayBuffer with its Uint8Array about
// 210. Rounded up, so that the bound is one on memory.
const TEXT_OVERHEAD = 32;
const BINARY_OVERHEAD = 224;

/**
 * The memory a queued message is charged against `maxQueuedBytes`: a text
 * two bytes per UTF-16 code unit (what V8 needs at most; Latin-1 text takes
 * half), bytes their length, each plus what V8 holds around it.
 */
export function queuedCost(item: string | Uint8Array): number {
  return typeof item === "string"
    ? item.length * 2 + TEXT_OVERHEAD
    : item.byteLength + BINARY_OVERHEAD;
}

// Listened to: "message", "close", and "open" until it comes. Not "error":
// Deno always follows it with "close", which carries what matters.
// A socket that has not opened this long after the upgrade response went out
// never will: Deno fires no event at all for a client that vanished before
// the response (its request's signal would say so, but touching it makes
// Deno print a warning in every app). A live socket opens as soon as the 101
// is written, within milliseconds.
const OPEN_TIMEOUT_MS = 5_000;
// Drain polling: Deno has no drain event, so `bufferedAmount` is watched with
// a backoff from 1 ms to 64 ms while a sender waits.
const DRAIN_POLL_MIN_MS = 1;
const DRAIN_POLL_MAX_MS = 64;

interface Waiter {
  resolve(value: void): void;
  reject(reason: unknown): void;
}

// While senders wait for the outbound buffer to drain.
interface Drain {
  waiters: Waiter[];
  timer: ReturnType<typeof setTimeout> | undefined;
  delay: number;
}

/** Drives one socket for one connection. */
export class SocketDriver {
  #socket: WebSocketLike | null = null;
  #limits: DriverLimits;
  // Per-connection state is kept small (an idle connection holds this and
  // little else): what only some connections need is made on first use.
  //
  // Inbound queue: an array with a moving head, made when a message must
  // wait for its receiver and dropped once read, so that a steady stream
  // costs no allocation per message and an idle connection none at all.
  #items: (Inbound | undefined)[] | null = null;
  #head = 0;
  // What the unread messages hold (see queuedCost).
  #queuedBytes = 0;
  // Who waits for the next item: usually one receiver, rarely several.
  #receiver: Receiver | null = null;
  #moreReceivers: Receiver[] | null = null;
  #ended: Disconnect | null = null;
  #socketClosed = false;
  #onOpen: (() => void) | null = null;
  // A close asked for before the socket opened, made once it does.
  #closeOnOpen: Disconnect | null = null;
  #drain: Drain | null = null;
  // At least the socket's bufferedAmount: its last reading plus what was
  // sent since (see mustWait).
  #bufferedBound = 0;
  #controller: AbortController | undefined;
  #closed: PromiseWithResolvers<{ code: number; reason: string }> | undefined;

  constructor(limits: DriverLimits) {
    this.#limits = limits;
  }

  /** The connection's end, once known; sends must not go out after it. */
  get ended(): Disconnect | null {
    return this.#ended;
  }

  /** The socket, once attached and until it has closed. */
  get socket(): WebSocketLike | null {
    return this.#socket;
  }

  /**
   * Takes over `socket`: listeners are attached in this same turn, so no
   * message sent on open is lost. Resolves once the socket is open, or once
   * the connection ended before it opened.
   */
  attach(socket: WebSocketLike): Promise<void> {
    this.#socket = socket;
    // (Deno's server sockets already are; the setter converts its argument.)
    if (socket.binaryType !== "arraybuffer") socket.binaryType = "arraybuffer";
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    if (this.#ended !== null || socket.readyState === OPEN) {
      return Promise.resolve();
    }
    socket.addEventListener("open", this);
    const timeout = this.#limits.openTimeoutMs ?? OPEN_TIMEOUT_MS;
    unopened.set(this, Date.now() + timeout);
    if (!sweeping) sweepAfter(Math.min(timeout, SWEEP_MS));
    return new Promise((resolve) => {
      this.#onOpen = resolve;
    });
  }

  /** Gives up on a socket that never opened: the connection ends with 1006. */
  abandonUnopened(): void {
    if (this.#onOpen === null || this.#socketClosed) return;
    this.#socketClosed = true;
    const socket = this.#socket!;
    this.#stopListening(socket);
    try {
      socket.close();
    } catch {
      // nothing to close
    }
    this.end(1006, "");
    this.#opened();
    this.#socket = null;
    this.#settle();
  }

  /** Socket events: the single listener for every event type. */
  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        this.#onMessage((event as MessageEvent).data);
        break;
      case "open": {
        this.#opened();
        const close = this.#closeOnOpen;
        if (close !== null) {
          this.#closeOnOpen = null;
          this.#socket!.close(close.code, close.reason);
        }
        break;
      }
      case "close": {
        const { code, reason } = event as CloseEvent;
        this.#onClose(code, reason);
        break;
      }
    }
  }

  // ("open" goes in #opened(), if it is still listened to.)
  #stopListening(socket: WebSocketLike): void {
    socket.removeEventListener("message", this);
    socket.removeEventListener("close", this);
  }

  #opened(): void {
    unopened.delete(this);
    const onOpen = this.#onOpen;
    if (onOpen === null) return;
    this.#onOpen = null;
    // Not needed any more; a listener costs memory as long as the socket.
    this.#socket!.removeEventListener("open", this);
    onOpen();
  }

  #onMessage(data: unknown): void {
    if (this.#ended !== null) return;
    let item: string | Uint8Array;
    let tooBig: boolean;
    if (typeof data === "string") {
      item = data;
      tooBig = utf8Exceeds(data, this.#limits.maxMessageSize);
    } else if (data instanceof ArrayBuffer) {
      // binaryType is "arraybuffer": wrap, never copy.
      item = new Uint8Array(data);
      tooBig = data.byteLength > this.#limits.maxMessageSize;
    } else {
      // Not a frame type the socket should produce; refuse it like RFC 6455
      // says for data a receiver cannot accept.
      this.fail(1003, "Unsupported message data");
      return;
    }
    if (tooBig) {
      // Deno has already assembled the message; the limit can only stop it
      // from going further (see deno-facts: fragmented messages are unbounded).
      this.fail(1009, "Message too big");
      return;
    }
    const receiver = this.#takeReceiver();
    if (receiver !== null) {
      hand(receiver, item);
      return;
    }
    // Deno reads the next frame as soon as this event returns, whatever the
    // handler does: its read loop awaits an op that resolves at once while
    // frames are buffered, so a handler that awaits anything slower than a
    // few microtasks lets it read ahead (see the README, "Overload"). The
    // queue absorbs that; its bounds tell a flood from a burst.
    const items = this.#items ??= [];
    if (items.length - this.#head >= this.#limits.maxQueuedMessages) {
      this.fail(1008, "Too many unread messages");
      return;
    }
    const queued = this.#queuedBytes + queuedCost(item);
    if (queued > this.#limits.maxQueuedBytes) {
      this.fail(1008, "Too many unread bytes");
      return;
    }
    this.#queuedBytes = queued;
    // Only messages are queued before the end (see end()).
    items.push(item);
  }

  #onClose(code: number, reason: string): void {
    // With idleTimeout Deno reports two close events for one socket; the
    // second one changes nothing.
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    this.#stopListening(this.#socket!);
    // A peer that vanished (TCP reset) shows up as code 0 in Deno.
    this.end(code === 0 ? 1006 : code, reason);
    this.#opened();
    // Let go of Deno's socket (and through it, its request): a connection
    // that has ended but was not collected yet would otherwise keep younger
    // objects alive through every minor GC (measured: the bytes promoted
    // per scavenge under a stream of connections fell from 2.2 to 1 MB).
    this.#socket = null;
    this.#settle();
  }

  /**
   * Closes the socket because a limit was broken: the handler still reads
   * what was queued before, then a disconnect with `code`.
   */
  fail(code: number, reason: string): void {
    if (this.#ended !== null) return;
    this.close(code, reason);
    this.end(code, reason);
  }

  /**
   * Starts the closing handshake with `code` and `reason`, whatever state
   * the socket is in. Deno 2.9.6 drops a `close()` made while a server
   * socket is still connecting (its `readyState` goes to 2, then it opens
   * anyway, and no close frame is ever sent): such a close is made once the
   * socket opens. Does nothing once the socket has closed.
   */
  close(code: number, reason: string): void {
    const socket = this.#socket;
    if (socket === null || this.#socketClosed) return;
    if (this.#onOpen !== null) {
      this.#closeOnOpen ??= new Disconnect(code, reason);
      return;
    }
    socket.close(code, reason);
  }

  /**
   * Marks the connection as over with `code` and `reason`: queued after the
   * unread messages for `receive()`, and thrown to waiting senders.
   */
  end(code: number, reason: string): void {
    if (this.#ended !== null) return;
    const end = new Disconnect(code, reason);
    this.#ended = end;
    const receiver = this.#takeReceiver();
    if (receiver !== null) hand(receiver, end);
    else (this.#items ??= []).push(end);
    // Every further receiver sees the end too (there may be several waiting).
    for (let next = this.#takeReceiver(); next !== null;) {
      hand(next, end);
      next = this.#takeReceiver();
    }
    if (this.#drain !== null) {
      this.#rejectDrainWaiters(new WebSocketDisconnect(code, reason));
    }
    if (this.#socket === null || this.#socketClosed) this.#settle();
  }

  #settle(): void {
    const end = this.#ended!;
    this.#controller?.abort(new WebSocketDisconnect(end.code, end.reason));
    this.#closed?.resolve({ code: end.code, reason: end.reason });
  }

  /** Whether the connection is completely over (socket closed, or never had one). */
  get settled(): boolean {
    return this.#ended !== null &&
      (this.#socket === null || this.#socketClosed);
  }

  /** The next inbound item; a Promise only when nothing is queued yet. */
  next(): Inbound | Promise<Inbound> {
    const item = this.#dequeue();
    if (item !== undefined) return item;
    return new Promise((resolve) => this.#wait(resolve));
  }

  /**
   * The next inbound item if there is one; otherwise `receiver` is handed
   * the next one when it comes, and this returns `undefined`.
   */
  take(receiver: Receiver): Inbound | undefined {
    const item = this.#dequeue();
    if (item === undefined) this.#wait(receiver);
    return item;
  }

  #wait(receiver: Receiver): void {
    if (this.#receiver === null) this.#receiver = receiver;
    else (this.#moreReceivers ??= []).push(receiver);
  }

  #dequeue(): Inbound | undefined {
    const items = this.#items;
    if (items === null) return this.#ended ?? undefined;
    const item = items[this.#head]!;
    items[this.#head++] = undefined;
    if (!(item instanceof Disconnect)) this.#queuedBytes -= queuedCost(item);
    if (this.#head === items.length) {
      this.#items = null;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  #takeReceiver(): Receiver | null {
    const receiver = this.#receiver;
    if (receiver === null) return null;
    const more = this.#moreReceivers;
    this.#receiver = more !== null && more.length > 0 ? more.shift()! : null;
    return receiver;
  }

  /**
   * Whether a send of `data` must wait for the outbound buffer to drain
   * first. Reading `bufferedAmount` costs a call into the runtime, so it is
   * read only when an upper bound (the last reading plus every byte sent
   * since) would pass the high-water mark.
   */
  mustWait(data: string | Uint8Array | ArrayBuffer): boolean {
    if (this.#drain !== null) return true;
    const socket = this.#socket;
    if (socket === null) return false;
    // A string's UTF-8 form is at most 3 bytes per UTF-16 code unit.
    const size = typeof data === "string" ? data.length * 3 : data.byteLength;
    const limit = this.#limits.sendHighWaterMark;
    let bound = this.#bufferedBound + size;
    if (bound > limit) {
      const buffered = socket.bufferedAmount;
      if (buffered > limit) return true;
      bound = buffered + size;
    }
    this.#bufferedBound = bound;
    return false;
  }

  /**
   * Resolves once the socket's buffer is at or below the high-water mark;
   * rejects with `WebSocketDisconnect` if the connection ends first.
   */
  drain(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let drain = this.#drain;
    if (drain === null) {
      drain = this.#drain = {
        waiters: [],
        delay: DRAIN_POLL_MIN_MS,
        timer: setTimeout(checkDrain, DRAIN_POLL_MIN_MS, this),
      };
    }
    drain.waiters.push({ resolve, reject });
    return promise;
  }

  /** Called by the drain timer. */
  checkDrain(): void {
    const drain = this.#drain;
    const socket = this.#socket;
    // (An end rejects the waiters and stops the timer.)
    if (drain === null || socket === null) return;
    if (socket.bufferedAmount > this.#limits.sendHighWaterMark) {
      drain.delay = Math.min(drain.delay * 2, DRAIN_POLL_MAX_MS);
      drain.timer = setTimeout(checkDrain, drain.delay, this);
      return;
    }
    this.#drain = null;
    this.#bufferedBound = socket.bufferedAmount;
    for (const waiter of drain.waiters) waiter.resolve();
  }

  #rejectDrainWaiters(error: WebSocketDisconnect): void {
    const drain = this.#drain!;
    this.#drain = null;
    clearTimeout(drain.timer);
    for (const waiter of drain.waiters) waiter.reject(error);
  }

  /** Aborted when the connection is completely over. Created on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.settled) {
        const end = this.#ended!;
        this.#controller.abort(new WebSocketDisconnect(end.code, end.reason));
      }
    }
    return this.#controller.signal;
  }

  /** Resolves with the final code and reason. Created on first use. */
  get closed(): Promise<{ code: number; reason: string }> {
    if (this.#closed === undefined) {
      this.#closed = Promise.withResolvers();
      if (this.settled) {
        const end = this.#ended!;
        this.#closed.resolve({ code: end.code, reason: end.reason });
      }
    }
    return this.#closed.promise;
  }
}

function checkDrain(driver: SocketDriver): void {
  driver.checkDrain();
}

// The open timeout: one sweep a second over the sockets that have not opened
// yet, rather than a timer each. It runs on AbortSignal.timeout(), which is
// cheap to start (Deno's setTimeout builds a Node-style Timeout: 3.5 µs with
// its clearTimeout, a tenth of what a connection costs the library) and
// holds neither the process nor a test's leak check, so a sweep left
// pending needs no clearing: once nothing waits, it stops re-arming.
const SWEEP_MS = 1_000;
// Each socket still opening, with the time it is given up at.
const unopened = new Map<SocketDriver, number>();
let sweeping = false;

function sweepAfter(ms: number): void {
  sweeping = true;
  AbortSignal.timeout(ms).addEventListener("abort", sweepUnopened);
}

function sweepUnopened(): void {
  sweeping = false;
  const now = Date.now();
  for (const [driver, deadline] of unopened) {
    if (deadline <= now) {
      unopened.delete(driver);
      driver.abandonUnopened();
    }
  }
  if (unopened.size > 0) sweepAfter(SWEEP_MS);
}
