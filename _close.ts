// Close code and reason rules of RFC 6455 §7.4 and §5.5, which Deno's socket
// does not check (it sends 1004, 1005, 1006, 999 or 5000 as given).
import { utf8Exceeds } from "./_utf8.ts";

/** Control frames carry at most 125 bytes; two of them are the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Whether `code` may be sent in a close frame: 1000, 1001–1014 except the
 * reserved 1004–1006 (no status, abnormal closure), or 3000–4999 (registered
 * and private use).
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && (code < 1004 || code > 1006);
}

/**
 * Throws a `RangeError` naming the problem when `code` or `reason` may not
 * be sent.
 */
export function assertCloseFrame(
  action: string,
  code: number,
  reason: string,
): void {
  if (!isSendableCloseCode(code)) {
    throw new RangeError(
      `Cannot ${action}: close code ${code} may not be sent: use 1000, 1001-1014 except 1004-1006, or 3000-4999`,
    );
  }
  if (typeof reason !== "string") {
    throw new TypeError(
      `Cannot ${action}: the close reason must be a string, got ${typeof reason}`,
    );
  }
  if (utf8Exceeds(reason, MAX_CLOSE_REASON_BYTES)) {
    throw new RangeError(
      `Cannot ${action}: the close reason is longer than ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes: shorten it`,
    );
  }
}
