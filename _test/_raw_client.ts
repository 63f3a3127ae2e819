// A minimal HTTP/1.1 client for upgrade requests over raw TCP: what a real
// client observes of a handshake (status, headers, body), and a connection
// the test fully controls (never reads, vanishes).

const CRLF2 = "\r\n\r\n";

/** The server's answer to an upgrade request. */
export interface RawHandshake {
  status: number;
  headers: Headers;
  body: string;
  /** The open connection; the caller closes it. */
  conn: Deno.TcpConn;
}

/** Sends an upgrade request for `path` and reads the response head (and body, if not 101). */
export async function rawHandshake(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawHandshake> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    await writeAll(conn, new TextEncoder().encode(lines.join("\r\n") + CRLF2));
    let buffered: Uint8Array = new Uint8Array(0);
    let headEnd = -1;
    while (headEnd === -1) {
      const chunk = await readSome(conn);
      if (chunk === null) {
        throw new Error("Connection closed before the response head");
      }
      buffered = concat(buffered, chunk);
      headEnd = new TextDecoder().decode(buffered).indexOf(CRLF2);
    }
    const text = new TextDecoder().decode(buffered);
    const [statusLine, ...headerLines] = text.slice(0, headEnd).split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const responseHeaders = new Headers();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      responseHeaders.append(
        line.slice(0, colon).trim(),
        line.slice(colon + 1).trim(),
      );
    }
    let body = "";
    if (status !== 101) {
      const length = Number(responseHeaders.get("content-length") ?? "0");
      let rest: Uint8Array = buffered.subarray(
        new TextEncoder().encode(text.slice(0, headEnd + 4)).length,
      );
      while (rest.length < length) {
        const chunk = await readSome(conn);
        if (chunk === null) break;
        rest = concat(rest, chunk);
      }
      body = new TextDecoder().decode(rest);
    }
    return { status, headers: responseHeaders, body, conn };
  } catch (error) {
    conn.close();
    throw error;
  }
}

async function readSome(conn: Deno.TcpConn): Promise<Uint8Array | null> {
  const buffer = new Uint8Array(64 * 1024);
  const n = await conn.read(buffer);
  return n === null ? null : buffer.subarray(0, n);
}

async function writeAll(conn: Deno.TcpConn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) {
    written += await conn.write(data.subarray(written));
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Frame opcodes of RFC 6455 §5.2. */
export const OPCODE = {
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
} as const;

/** Writes one client frame (masked, as RFC 6455 §5.3 requires). */
export async function sendFrame(
  conn: Deno.TcpConn,
  opcode: number,
  payload: Uint8Array,
): Promise<void> {
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + length);
  frame[0] = 0x80 | opcode; // FIN
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    new DataView(frame.buffer).setUint16(2, length);
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  frame.set(mask, header);
  for (let i = 0; i < length; i++) {
    frame[header + 4 + i] = payload[i] ^ mask[i % 4];
  }
  await writeAll(conn, frame);
}

/** The payload of a close frame. */
export function closePayload(code: number, reason = ""): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const payload = new Uint8Array(2 + text.length);
  new DataView(payload.buffer).setUint16(0, code);
  payload.set(text, 2);
  return payload;
}

/** One frame from the server (servers never mask). */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/**
 * Reads server frames from `conn` until it ends; `rest` is what the
 * handshake read already past the response head, if anything.
 */
export async function* readFrames(
  conn: Deno.TcpConn,
  rest: Uint8Array = new Uint8Array(0),
): AsyncGenerator<ServerFrame> {
  let buffered = rest;
  while (true) {
    const frame = parseFrame(buffered);
    if (frame !== null) {
      buffered = buffered.subarray(frame.size);
      yield frame.frame;
      continue;
    }
    let chunk: Uint8Array | null;
    try {
      chunk = await readSome(conn);
    } catch {
      return; // reset by the peer
    }
    if (chunk === null) return;
    buffered = concat(buffered, chunk);
  }
}

function parseFrame(
  data: Uint8Array,
): { frame: ServerFrame; size: number } | null {
  if (data.length < 2) return null;
  let length = data[1] & 0x7f;
  let offset = 2;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (length === 126) {
    if (data.length < 4) return null;
    length = view.getUint16(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = Number(view.getBigUint64(2));
    offset = 10;
  }
  if (data.length < offset + length) return null;
  return {
    frame: {
      fin: (data[0] & 0x80) !== 0,
      opcode: data[0] & 0x0f,
      payload: data.slice(offset, offset + length),
    },
    size: offset + length,
  };
}
