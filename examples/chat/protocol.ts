// The chat's messages, declared once: the server (main.ts) and the page
// (page.ts, bundled for the browser) both obey this. valibot keeps the
// page's bundle small.
import * as v from "valibot";
import { defineProtocol } from "../../protocol.ts";

/** A display name: 1-24 letters, digits, spaces, `_`, `.` or `-`. */
export const NAME = v.pipe(
  v.string(),
  v.trim(),
  v.minLength(1, "Enter a name"),
  v.maxLength(24, "Use at most 24 characters"),
  v.regex(/^[\p{L}\p{N} _.-]+$/u, "Use letters, digits, spaces, _ . -"),
);

export const chat = defineProtocol({
  // client → server
  receives: {
    say: v.object({
      text: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(500)),
    }),
  },
  // server → client (to everyone in the room, the sender included)
  sends: {
    said: v.object({ from: v.string(), text: v.string() }),
    joined: v.object({ name: v.string() }),
    left: v.object({ name: v.string() }),
  },
});
