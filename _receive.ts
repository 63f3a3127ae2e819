// The typed side of receiving: what receiveText(), receiveBytes() and
// receiveJson() wait with (Receipt), and what iterText(), iterBytes() and
// iterJson() iterate (MessageIterator). Both wait as the driver's receiver
// (deliver()), so a message that is already queued costs no promise but the
// caller's own, and an idle connection keeps no async frame. The state
// moves in WebSocket, reached through TAKE and DATA.
import type { Inbound, Receiver } from "./_socket_driver.ts";
import { DATA, TAKE } from "./_symbols.ts";

/** What a typed receive accepts: any message, text only, or bytes only. */
export const ANY = 0;
/** Text messages only. */
export const TEXT = 1;
/** Binary messages only. */
export const BYTES = 2;
/** One of ANY, TEXT, BYTES. */
export type Kind = typeof ANY | typeof TEXT | typeof BYTES;

/** What each kind of receive is called in errors, by kind. */
export const RECEIVE_ACTIONS = [
  "receive JSON",
  "receive text",
  "receive bytes",
];

/** The receive steps a WebSocket gives its waiters. */
export interface MessageSource {
  /**
   * The next item now, or undefined once `receiver` waits for it; throws
   * if the connection may not receive.
   */
  [TAKE](kind: Kind, receiver: Receiver): Inbound | undefined;
  /**
   * The item's data; for the end null if `quietEnd`, else it throws
   * WebSocketDisconnect; throws for the wrong kind.
   */
  [DATA](kind: Kind, item: Inbound, quietEnd: boolean): Data | null;
}

/** How a message is named in errors. */
export function describe(item: Inbound): string {
  return typeof item === "string" ? "a text message" : "a binary message";
}

// A typed receive waiting for its message (see #receiveData).
export class Receipt {
  resolve: ((value: Data | Promise<never>) => void) | null = null;
  #ws: MessageSource;
  #kind: Kind;

  constructor(ws: MessageSource, kind: Kind) {
    this.#ws = ws;
    this.#kind = kind;
  }

  /** The driver's receiver. */
  deliver(item: Inbound): void {
    let data: Data;
    try {
      data = this.#ws[DATA](this.#kind, item, false)!;
    } catch (error) {
      // (No reject function kept while waiting: one less per connection.)
      this.resolve!(Promise.reject(error));
      return;
    }
    this.resolve!(data);
  }
}

/** A message's data. */
export type Data = string | Uint8Array;
const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

// What iterText(), iterBytes() and iterJson() iterate: written out rather
// than an async generator, whose suspended frame every idle connection
// would keep, and which takes more steps per message. It waits for the
// next message as the driver's receiver (deliver()), so a message that is
// already queued costs no promise but next()'s own.
export class MessageIterator implements AsyncIterableIterator<Data> {
  #ws: MessageSource;
  #kind: Kind;
  #done = false;
  #resolve:
    | ((result: Promise<never> | IteratorResult<Data, undefined>) => void)
    | null = null;

  constructor(ws: MessageSource, kind: Kind) {
    this.#ws = ws;
    this.#kind = kind;
  }

  next(): Promise<IteratorResult<Data, undefined>> {
    if (this.#done) return Promise.resolve(DONE);
    // A next() while another waits (only when called by hand, never by
    // for await) takes the message after that one.
    if (this.#resolve !== null) {
      return new Promise<Inbound>((resolve) => {
        const item = this.#ws[TAKE](this.#kind, resolve);
        if (item !== undefined) resolve(item);
      }).then((item) => this.#result(item), (error) => this.#fail(error));
    }
    try {
      const item = this.#ws[TAKE](this.#kind, this);
      if (item !== undefined) return Promise.resolve(this.#result(item));
    } catch (error) {
      return this.#fail(error);
    }
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** The driver's receiver: the item this iterator waits for. */
  deliver(item: Inbound): void {
    const resolve = this.#resolve!;
    this.#resolve = null;
    let result: IteratorResult<Data, undefined>;
    try {
      result = this.#result(item);
    } catch (error) {
      // (A waiting iterator keeps no reject function: one less per socket.)
      resolve(Promise.reject(error));
      return;
    }
    resolve(result);
  }

  #result(item: Inbound): IteratorResult<Data, undefined> {
    let data: Data | null;
    try {
      data = this.#ws[DATA](this.#kind, item, true);
    } catch (error) {
      this.#done = true;
      throw error;
    }
    if (data !== null) return { value: data, done: false };
    this.#done = true;
    return DONE;
  }

  #fail(error: unknown): Promise<never> {
    this.#done = true;
    return Promise.reject(error);
  }

  return(): Promise<IteratorResult<Data, undefined>> {
    this.#done = true;
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export function wrongKind(
  action: string,
  kind: Kind,
  item: Inbound,
): TypeError {
  return new TypeError(
    kind === TEXT
      ? `Cannot ${action}: expected a text message, got ${
        describe(item)
      }: use receiveBytes() for binary messages`
      : `Cannot ${action}: expected a binary message, got ${
        describe(item)
      }: use receiveText() for text messages`,
  );
}
