// In-process history of channels for MemoryBackend: a ring buffer of the
// latest publications per channel, with an age limit, under one epoch for
// the backend's lifetime (a new process is a new epoch: nothing survives it).
import type {
  BroadcastMessage,
  HistoryResult,
  StreamPosition,
} from "./_broadcast_backend.ts";

interface Entry {
  message: BroadcastMessage;
  offset: number;
  at: number;
}

interface Channel {
  offset: number;
  // A ring of at most `size` entries; `head` is the oldest.
  ring: (Entry | undefined)[];
  head: number;
  length: number;
}

/** Random, short, and never containing ":" (positions print as `epoch:offset`). */
export function newEpoch(): string {
  return crypto.randomUUID().slice(0, 8);
}

/** Checks a position given by a caller (often parsed from a client). */
export function assertPosition(
  since: unknown,
  action: string,
): asserts since is StreamPosition {
  const position = since as StreamPosition | null;
  if (
    typeof position !== "object" || position === null ||
    typeof position.epoch !== "string" ||
    !Number.isSafeInteger(position.offset) || position.offset < 0
  ) {
    throw new TypeError(
      `Cannot ${action}: since must be { epoch: string, offset: integer >= 0 }, got ${
        JSON.stringify(since)
      }`,
    );
  }
}

export class ChannelHistories {
  readonly epoch: string = newEpoch();
  readonly #size: number;
  readonly #ttlMs: number;
  #channels = new Map<string, Channel>();

  constructor(size: number, ttlMs: number) {
    this.#size = size;
    this.#ttlMs = ttlMs;
  }

  append(channel: string, message: BroadcastMessage): StreamPosition {
    let state = this.#channels.get(channel);
    if (state === undefined) {
      state = { offset: 0, ring: [], head: 0, length: 0 };
      this.#channels.set(channel, state);
    }
    const offset = ++state.offset;
    if (this.#size > 0) {
      const entry = { message, offset, at: Date.now() };
      if (state.length < this.#size) {
        state.ring[(state.head + state.length) % this.#size] = entry;
        state.length++;
      } else {
        state.ring[state.head] = entry;
        state.head = (state.head + 1) % this.#size;
      }
    }
    return { epoch: this.epoch, offset };
  }

  read(channel: string, since: StreamPosition | null): HistoryResult {
    const state = this.#channels.get(channel);
    const top = state?.offset ?? 0;
    const position = { epoch: this.epoch, offset: top };
    if (since === null) return { recovered: false, publications: [], position };
    if (since.epoch !== this.epoch || since.offset > top) {
      return { recovered: false, publications: [], position };
    }
    const missed = top - since.offset;
    if (missed === 0) return { recovered: true, publications: [], position };
    if (state === undefined || missed > state.length) {
      return { recovered: false, publications: [], position };
    }
    const first = state.length - missed;
    const oldest = state.ring[(state.head + first) % this.#size]!;
    // All or nothing: one expired entry and the history no longer covers it.
    if (Date.now() - oldest.at > this.#ttlMs) {
      return { recovered: false, publications: [], position };
    }
    const publications = new Array(missed);
    for (let i = 0; i < missed; i++) {
      const entry = state.ring[(state.head + first + i) % this.#size]!;
      publications[i] = { message: entry.message, offset: entry.offset };
    }
    return { recovered: true, publications, position };
  }

  clear(): void {
    this.#channels.clear();
  }
}
