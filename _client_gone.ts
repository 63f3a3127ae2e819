// Noticing a client that leaves while its handshake is still unanswered
// (during a slow dependency, say), without Deno's legacy-abort notice.
//
// Deno 2.9.6 reports such a client only through `request.signal`: nothing
// else settles before the answer (`info.completed` settles once the answer
// is written, and resolves even for an upgrade of a connection whose client
// has gone), and upgrading such a request leaves that upgrade, and
// `server.shutdown()` with it, pending for ever. So the signal has to be
// watched. Without --unstable-no-legacy-abort, Deno then prints, once per
// process, "request.signal aborts on successful responses (legacy
// behavior) ..." as it answers the first request whose signal was read: a
// notice about the library's use of the signal that reads like a bug in the
// user's code. It is kept out of the log: from the first watched handshake
// until Deno has printed it (then it never prints it again) or until a
// watched handshake was upgraded without it (then this runtime does not
// print it: the flag is on, or it was printed before). In between, only that
// exact text is held back; every other warning goes through.

const NOTICE =
  "Deno.serve: request.signal aborts on successful responses (legacy behavior).";

let settled = false;
let passOn: typeof console.warn | undefined;

function withoutNotice(this: Console, ...data: unknown[]): void {
  if (typeof data[0] === "string" && data[0].startsWith(NOTICE)) {
    settle(); // Deno prints it once per process: nothing more to hold back
    return;
  }
  passOn!.apply(this, data);
}

function settle(): void {
  settled = true;
  // Unless someone replaced console.warn since (then theirs stays).
  if (console.warn === withoutNotice) console.warn = passOn!;
  passOn = undefined;
}

/**
 * Calls `onGone` when the client of `request` disconnects before its
 * handshake is answered; `true` if it already has. Deno also aborts the
 * signal while answering (legacy behaviour): call it only while the
 * handshake is unanswered, and ignore aborts once the answer is under way.
 */
export function watchClientGone(request: Request, onGone: () => void): boolean {
  if (!settled && passOn === undefined) {
    passOn = console.warn;
    console.warn = withoutNotice;
  }
  const signal = request.signal;
  if (signal.aborted) return true;
  signal.addEventListener("abort", onGone, { once: true });
  return false;
}

/**
 * Wraps the upgrade function of a watched handshake: Deno prints the notice,
 * if at all, inside the upgrade call. One upgrade without it shows that this
 * runtime does not print it.
 */
export function upgradeWatched<A extends unknown[], R>(
  upgrade: (...args: A) => R,
): (...args: A) => R {
  return (...args) => {
    try {
      return upgrade(...args);
    } finally {
      if (!settled) settle();
    }
  };
}
