// The access log's one line format: what an App whose logger has `info`
// writes for every refused WebSocket handshake (app.ts, and _operations.ts
// for middleware and connection limits) and every ended session
// (_session.ts).

/** A metered session's counts (see _metered_socket.ts). */
export interface SessionCounts {
  messagesReceived: number;
  bytesReceived: number;
  messagesSent: number;
  bytesSent: number;
}

/** One access log entry. */
export type AccessEntry =
  | {
    kind: "refused";
    /** The route (see routeWhere()), or why none serves the path. */
    where: string;
    status: number;
    why: string;
  }
  | {
    kind: "ended";
    where: string;
    code: number;
    reason: string;
    durationMs: number;
    /** Only for a metered connection. */
    counts?: SessionCounts | null;
  };

/** How a line names a route and the path it matched. */
export function routeWhere(template: string, pathname: string): string {
  return template === pathname
    ? `"${template}"`
    : `"${template}" ("${pathname}")`;
}

/** The line of one entry. */
export function accessLine(entry: AccessEntry): string {
  if (entry.kind === "refused") {
    return `WebSocket handshake refused: ${entry.where}: ${entry.status} (${entry.why})`;
  }
  const { where, code, reason, durationMs, counts } = entry;
  const line = `WebSocket session ended: ${where} code ${code}${
    reason === "" ? "" : ` "${reason}"`
  } after ${Math.round(durationMs)} ms`;
  if (counts === undefined || counts === null) return line;
  return `${line}, in ${
    messages(counts.messagesReceived)
  } (${counts.bytesReceived} B), out ${
    messages(counts.messagesSent)
  } (${counts.bytesSent} B)`;
}

function messages(count: number): string {
  return count === 1 ? "1 message" : `${count} messages`;
}
