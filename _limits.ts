// The limits in one place: their defaults (the App's options, a route's
// overrides and a WebSocket built by hand all fall back to these; each
// option's `@default` says the same) and the checks of the values an App or
// a route is given.
import type { ConnectionLimits } from "./limits.ts";
import { checkRateLimit } from "./_rate_limit.ts";

/** Bytes; a larger message closes with 1009. */
export const MAX_MESSAGE_SIZE = 1024 * 1024;
/** Unread messages; one more closes with 1008. */
export const MAX_QUEUED_MESSAGES = 1024;
/** Bytes buffered before `send*()` waits. */
export const SEND_HIGH_WATER_MARK = 1024 * 1024;
/** Seconds without a pong before the socket closes; 0 disables. */
export const IDLE_TIMEOUT = 120;

/** Throws a RangeError unless `value` is unset or a positive integer. */
export function positiveInteger(
  name: string,
  value: number | undefined,
  where: string,
): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new RangeError(
      `Cannot ${where}: ${name} must be a positive integer, got ${value}`,
    );
  }
}

/** Checks the connection limits of an App or a route at registration. */
export function checkConnectionLimits(
  where: string,
  limits: ConnectionLimits,
): void {
  positiveInteger("maxConnections", limits.maxConnections, where);
  positiveInteger(
    "maxConnectionsPerClient",
    limits.maxConnectionsPerClient,
    where,
  );
  const lifetime = limits.maxLifetime;
  if (
    lifetime !== undefined &&
    !(typeof lifetime === "number" && lifetime > 0 && Number.isFinite(lifetime))
  ) {
    throw new RangeError(
      `Cannot ${where}: maxLifetime must be a positive number of seconds, got ${lifetime}`,
    );
  }
  if (
    limits.clientKey !== undefined && typeof limits.clientKey !== "function"
  ) {
    throw new TypeError(
      `Cannot ${where}: clientKey must be a function of the connection`,
    );
  }
  checkRateLimit(limits.rateLimit, where);
}
