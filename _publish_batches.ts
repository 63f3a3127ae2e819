// Publications to a channel's stream, sent to Redis in batches (group
// commit): while one batch of a channel is on its way, what is published to
// that channel meanwhile waits and goes next, all in one script call. Under
// a light load each publication goes alone, a microtask after it was made;
// under a heavy one, a script call (its dispatch, the stream and meta
// reads, the clock, the expiries) serves many publications, which is what
// lets a stream with history keep up with plain pub/sub (bench/README.md,
// "Broadcast through Redis"). Order within a channel is kept: one batch of
// a channel at a time, each in publication order.
import type { StreamPosition } from "./_broadcast_backend.ts";

/**
 * Sends one batch of a channel: resolves with the epoch and the offset of
 * the first publication (the others follow it one by one).
 */
export type SendBatch = (
  channel: string,
  payloads: Uint8Array[],
) => Promise<{ epoch: string; first: number }>;

interface Pending {
  payload: Uint8Array;
  resolve(position: StreamPosition): void;
  reject(error: unknown): void;
}

interface ChannelQueue {
  waiting: Pending[];
  sending: boolean;
}

// Redis runs nothing else while a script runs: one call is kept to 256
// publications and 1 MiB of payload (a larger message goes alone).
const MAX_BATCH = 256;
const MAX_BATCH_BYTES = 1 << 20;

/** The channels' queues of publications not yet sent. */
export class PublishBatches {
  #send: SendBatch;
  #queues = new Map<string, ChannelQueue>();

  constructor(send: SendBatch) {
    this.#send = send;
  }

  /** Queues `payload` for `channel`; resolves with its position once sent. */
  add(channel: string, payload: Uint8Array): Promise<StreamPosition> {
    let queue = this.#queues.get(channel);
    if (queue === undefined) {
      queue = { waiting: [], sending: false };
      this.#queues.set(channel, queue);
    }
    const { promise, resolve, reject } = Promise.withResolvers<
      StreamPosition
    >();
    queue.waiting.push({ payload, resolve, reject });
    if (!queue.sending) {
      // Sent at the end of this turn, with what else this turn publishes.
      queue.sending = true;
      queueMicrotask(() => this.#flush(channel, queue));
    }
    return promise;
  }

  async #flush(channel: string, queue: ChannelQueue): Promise<void> {
    while (queue.waiting.length > 0) {
      const batch = takeBatch(queue.waiting);
      try {
        const { epoch, first } = await this.#send(
          channel,
          batch.map((pending) => pending.payload),
        );
        for (let i = 0; i < batch.length; i++) {
          batch[i].resolve({ epoch, offset: first + i });
        }
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    queue.sending = false;
    // (A queue left empty goes: channels come and go.)
    if (this.#queues.get(channel) === queue) this.#queues.delete(channel);
  }
}

function takeBatch(waiting: Pending[]): Pending[] {
  let count = 0;
  let bytes = 0;
  while (
    count < waiting.length && count < MAX_BATCH &&
    (count === 0 || bytes + waiting[count].payload.length <= MAX_BATCH_BYTES)
  ) {
    bytes += waiting[count].payload.length;
    count++;
  }
  return waiting.splice(0, count);
}
