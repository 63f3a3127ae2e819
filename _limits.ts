// The limits' defaults, in one place: the App's options, a route's
// overrides and a WebSocket built by hand all fall back to these (each
// option's `@default` says the same).

/** Bytes; a larger message closes with 1009. */
export const MAX_MESSAGE_SIZE = 1024 * 1024;
/** Unread messages; one more closes with 1008. */
export const MAX_QUEUED_MESSAGES = 65_536;
/**
 * Memory unread messages may hold, in bytes, as the socket driver's
 * `queuedCost()` counts it; more closes with 1008.
 */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Bytes buffered before `send*()` waits. */
export const SEND_HIGH_WATER_MARK = 1024 * 1024;
/** Seconds without a pong before the socket closes; 0 disables. */
export const IDLE_TIMEOUT = 120;

/** The limit options an `App` takes, and a route overrides (all but the last). */
export interface LimitOptions {
  maxMessageSize?: number;
  maxQueuedMessages?: number;
  maxQueuedBytes?: number;
  idleTimeout?: number;
  sendHighWaterMark?: number;
}

// The sizes and counts: each a whole number, at least 1.
const POSITIVE = [
  "maxMessageSize",
  "maxQueuedMessages",
  "maxQueuedBytes",
  "sendHighWaterMark",
] as const;

/**
 * Throws a `RangeError` for a limit that is not one: the App's options and a
 * route's overrides are checked the same way. `action` names what failed
 * ("create App", `register route "/ws"`).
 */
export function checkLimits(action: string, options: LimitOptions): void {
  for (const name of POSITIVE) {
    const value = options[name];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new RangeError(
        `Cannot ${action}: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  const idle = options.idleTimeout;
  if (idle !== undefined && !(Number.isInteger(idle) && idle >= 0)) {
    throw new RangeError(
      `Cannot ${action}: idleTimeout must be a whole number of seconds (0 disables), got ${idle}`,
    );
  }
}
