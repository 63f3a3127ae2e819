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
