// Validation of the connection limits, shared by the App and its routes.
import type { ConnectionLimits } from "./limits.ts";
import { checkRateLimit } from "./_rate_limit.ts";

function positive(name: string, value: number | undefined, where: string) {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new RangeError(
      `Cannot ${where}: ${name} must be a positive integer, got ${value}`,
    );
  }
}

/** Checks the limits of an App or a route at registration. */
export function checkLimits(limits: ConnectionLimits, where: string): void {
  positive("maxConnections", limits.maxConnections, where);
  positive("maxConnectionsPerClient", limits.maxConnectionsPerClient, where);
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
