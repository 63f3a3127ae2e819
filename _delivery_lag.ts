// Broadcast delivery lag: the clock both ends of a delivery read, and what
// a connection's observers offer broadcast. A leaf module, so that
// websocket.ts (which holds a connection's observers) and broadcast.ts
// share the shape without importing observer.ts, whose types import
// websocket.ts.

/**
 * What broadcast calls on a connection's session observers (the part of
 * `SessionObserver` in observer.ts it needs).
 */
export interface DeliveryObserver {
  broadcastDelivered?(channel: string, lagMs: number): void;
}

/**
 * Milliseconds since the epoch, with a fraction: a publication's time and
 * the moment it is handed to a socket. The monotonic clock from a wall-clock
 * origin: sub-millisecond within a process, and comparable (up to clock
 * skew) with other processes and machines, which read their own.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
