// The per-connection token bucket behind the `rateLimit` option.
import type { RateLimit } from "./limits.ts";

/** Checks `rateLimit` and says what is wrong with it, or returns it. */
export function checkRateLimit(
  limit: RateLimit | undefined,
  where: string,
): RateLimit | undefined {
  if (limit === undefined) return undefined;
  const positive = (value: unknown) =>
    typeof value === "number" && Number.isFinite(value) && value > 0;
  if (
    typeof limit !== "object" || limit === null || !positive(limit.messages) ||
    !positive(limit.perSeconds) ||
    (limit.bytes !== undefined && !positive(limit.bytes))
  ) {
    throw new RangeError(
      `Cannot ${where}: rateLimit must be { messages, bytes?, perSeconds } with positive numbers, got ${
        JSON.stringify(limit)
      }`,
    );
  }
  return limit;
}

/**
 * A token bucket for messages and (optionally) bytes: full at first, each
 * message takes one token and its size, refilled evenly over `perSeconds`.
 */
export class TokenBucket {
  #limit: RateLimit;
  #messages: number;
  #bytes: number;
  #at: number;

  constructor(limit: RateLimit, now: number) {
    this.#limit = limit;
    this.#messages = limit.messages;
    this.#bytes = limit.bytes ?? 0;
    this.#at = now;
  }

  /**
   * Takes a message of `size` bytes at `now` (milliseconds); false when the
   * bucket cannot pay for it (then nothing is taken).
   */
  take(size: number, now: number): boolean {
    const limit = this.#limit;
    const elapsed = (now - this.#at) / (limit.perSeconds * 1000);
    this.#at = now;
    if (elapsed > 0) {
      this.#messages = Math.min(
        limit.messages,
        this.#messages + elapsed * limit.messages,
      );
    }
    if (this.#messages < 1) return false;
    if (limit.bytes !== undefined) {
      if (elapsed > 0) {
        this.#bytes = Math.min(
          limit.bytes,
          this.#bytes + elapsed * limit.bytes,
        );
      }
      if (this.#bytes < size) return false;
      this.#bytes -= size;
    }
    this.#messages -= 1;
    return true;
  }
}
