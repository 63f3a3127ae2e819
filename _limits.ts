// The limits' defaults, in one place: the App's options, a route's
// overrides and a WebSocket built by hand all fall back to these (each
// option's `@default` says the same).

/** Bytes; a larger message closes with 1009. */
export const MAX_MESSAGE_SIZE = 1024 * 1024;
/** Unread messages; one more closes with 1008. */
export const MAX_QUEUED_MESSAGES = 1024;
/** Bytes buffered before `send*()` waits. */
export const SEND_HIGH_WATER_MARK = 1024 * 1024;
/** Seconds without a pong before the socket closes; 0 disables. */
export const IDLE_TIMEOUT = 120;
