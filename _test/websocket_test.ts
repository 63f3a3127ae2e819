// The connection suite: every test runs twice, over the in-memory pair and
// over a real socket on 127.0.0.1, and must observe the same results.
import assert from "node:assert/strict";
import {
  App,
  type AppOptions,
  HTTPException,
  type WebSocket,
  WebSocketDisconnect,
  WebSocketException,
  WebSocketState,
} from "../mod.ts";
import { captureLogger, type Connector, TRANSPORTS } from "./_transports.ts";

type Logger = ReturnType<typeof captureLogger>;

// Each run gets a fresh app, logger and context (whatever `setup` returns,
// e.g. promises the handler resolves), so the two runs share nothing.
function suite<T>(
  name: string,
  setup: (app: App, logger: Logger) => T,
  test: (c: Connector, context: T, logger: Logger) => Promise<void>,
  options: AppOptions = {},
): void {
  for (const transport of TRANSPORTS) {
    Deno.test(`[${transport.name}] ${name}`, async () => {
      const logger = captureLogger();
      const app = new App({ logger, ...options });
      const context = setup(app, logger);
      await transport.run(app, (c) => test(c, context, logger));
    });
  }
}

/** What a handler observed, handed back to the test. */
function probe<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  return Promise.withResolvers<T>();
}

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}

function echo(app: App): void {
  app.websocket("/echo", async (ws) => {
    await ws.accept();
    while (true) {
      const message = await ws.receive();
      if (message.type === "websocket.disconnect") break;
      if (message.type !== "websocket.receive") continue;
      if (message.text !== undefined) await ws.sendText(message.text);
      else await ws.sendBytes(message.bytes);
    }
  });
}

suite("WebSocket echoes text in order", echo, async (c) => {
  const ws = await c.connect("/echo");
  for (let i = 0; i < 50; i++) await ws.sendText(`message ${i} ✓`);
  for (let i = 0; i < 50; i++) {
    assert.equal(await ws.receiveText(), `message ${i} ✓`);
  }
  await ws.close();
});

suite("WebSocket echoes bytes unchanged", echo, async (c) => {
  const ws = await c.connect("/echo");
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
  await ws.sendBytes(bytes);
  assert.deepEqual(await ws.receiveBytes(), bytes);
  await ws.sendBytes(new Uint8Array(0));
  assert.deepEqual(await ws.receiveBytes(), new Uint8Array(0));
  await ws.close();
});

suite(
  "WebSocket.receiveJson()/sendJson() work in text and binary mode",
  (app) => {
    app.websocket("/json", async (ws) => {
      await ws.accept();
      const text = await ws.receiveJson();
      await ws.sendJson({ got: text, u: "é" });
      const binary = await ws.receiveJson("binary");
      await ws.sendJson({ got: binary }, "binary");
      await ws.close();
    });
  },
  async (c) => {
    const ws = await c.connect("/json");
    await ws.sendJson({ a: [1, 2] });
    // Compact, non-ASCII kept: exactly what Starlette's send_json writes.
    assert.equal(await ws.receiveText(), '{"got":{"a":[1,2]},"u":"é"}');
    await ws.sendJson({ b: null }, "binary");
    assert.equal(
      new TextDecoder().decode(await ws.receiveBytes()),
      '{"got":{"b":null}}',
    );
    await ws.close();
  },
);

suite(
  "WebSocket.accept() echoes the chosen subprotocol",
  (app) => {
    app.websocket("/proto", async (ws) => {
      await ws.accept({ subprotocol: ws.subprotocols.at(-1) });
      await ws.sendJson(ws.subprotocols);
      await ws.close();
    });
  },
  async (c) => {
    const ws = await c.connect("/proto", { subprotocols: ["v1", "v2"] });
    assert.equal(ws.acceptedSubprotocol, "v2");
    assert.deepEqual(await ws.receiveJson(), ["v1", "v2"]);
    await ws.close();
    const plain = await c.connect("/proto");
    assert.equal(plain.acceptedSubprotocol, null);
    assert.deepEqual(await plain.receiveJson(), []);
    await plain.close();
  },
);

suite(
  "WebSocket.accept() adds extra headers to the 101 response",
  (app) => {
    app.websocket("/headers", async (ws) => {
      await ws.accept({
        subprotocol: "chat",
        headers: { "x-room": "lobby", "set-cookie": "seen=1; Path=/" },
      });
      await ws.close();
    });
  },
  async (c) => {
    const headers = await c.handshakeHeaders("/headers", {
      subprotocols: ["chat"],
    });
    assert.equal(headers.get("x-room"), "lobby");
    assert.equal(headers.get("set-cookie"), "seen=1; Path=/");
    assert.equal(headers.get("sec-websocket-protocol"), "chat");
  },
);

suite(
  "WebSocket.close() reaches the client with its code and reason",
  (app) => {
    app.websocket("/bye", async (ws) => {
      await ws.accept();
      await ws.close(4000, "server bye ✓");
    });
  },
  async (c) => {
    const ws = await c.connect("/bye");
    const error = await caught(() => ws.receiveText());
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 4000);
    assert.equal(error.reason, "server bye ✓");
    await ws.close();
  },
);

suite(
  "WebSocket.receiveText() throws the client's close code and reason",
  (app) => {
    const seen = probe<unknown>();
    app.websocket("/client-bye", async (ws) => {
      await ws.accept();
      seen.resolve(await caught(() => ws.receiveText()));
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/client-bye");
    await ws.close(4001, "client bye");
    const error = await seen.promise;
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 4001);
    assert.equal(error.reason, "client bye");
  },
);

suite(
  "WebSocket.close() before accept() refuses the handshake with 403",
  (app) => {
    app.websocket("/refuse", async (ws) => await ws.close(4003, "nope"));
  },
  (c) => c.assertRefused("/refuse", 4003, "nope"),
);

suite(
  "WebSocketException before accept() refuses the handshake with its code",
  (app) => {
    app.websocket("/exc", () => {
      throw new WebSocketException(1008, "no token");
    });
  },
  (c) => c.assertRefused("/exc", 1008, "no token"),
);

suite(
  "WebSocketException after accept() closes with its code and reason",
  (app) => {
    app.websocket("/exc-after", async (ws) => {
      await ws.accept();
      throw new WebSocketException(1003, "bad data");
    });
  },
  async (c) => {
    const ws = await c.connect("/exc-after");
    const error = await caught(() => ws.receiveText());
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 1003);
    assert.equal(error.reason, "bad data");
    await ws.close();
  },
);

suite(
  "A handler that returns without accepting is refused with 403 and a warning",
  (app) => {
    app.websocket("/silent", () => {});
  },
  async (c, _, logger) => {
    await c.assertRefused("/silent", 1000, "");
    assert.ok(logger.warnings.length >= 1);
    assert.match(String(logger.warnings[0][0]), /without calling accept/);
  },
);

suite(
  "WebSocket.sendDenialResponse() sends exactly the given response",
  (app) => {
    app.websocket("/deny", async (ws) => {
      await ws.sendDenialResponse(
        new Response("no entry", {
          status: 401,
          headers: { "x-why": "token" },
        }),
      );
    });
  },
  async (c) => {
    const headers = await c.assertDenied("/deny", 401, "no entry");
    assert.equal(headers.get("x-why"), "token");
  },
);

suite(
  "HTTPException before accept() becomes a JSON denial response",
  (app) => {
    app.websocket("/http-exc", () => {
      throw new HTTPException(401, "Missing token", {
        "www-authenticate": "Bearer",
      });
    });
  },
  async (c) => {
    const headers = await c.assertDenied(
      "/http-exc",
      401,
      '{"detail":"Missing token"}',
    );
    assert.equal(headers.get("www-authenticate"), "Bearer");
  },
);

suite(
  "An unhandled error before accept() answers 500 and is logged once per attempt",
  (app) => {
    let attempts = 0;
    app.websocket("/boom-early", () => {
      attempts++;
      throw new Error("secret internal detail");
    });
    return { attempts: () => attempts };
  },
  async (c, context, logger) => {
    await c.assertDenied("/boom-early", 500, "Internal Server Error");
    // The real transport connects twice (the client, then a status probe).
    assert.equal(logger.errors.length, context.attempts());
    assert.match(String(logger.errors[0][0]), /"\/boom-early"/);
    assert.equal(
      (logger.errors[0][1] as Error).message,
      "secret internal detail",
    );
  },
);

suite(
  "An unhandled error after accept() closes with 1011 and no internals",
  (app) => {
    app.websocket("/boom", async (ws) => {
      await ws.accept();
      throw new Error("secret internal detail");
    });
  },
  async (c, _, logger) => {
    const ws = await c.connect("/boom");
    const error = await caught(() => ws.receiveText());
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 1011);
    assert.equal(error.reason, "Internal Server Error");
    await ws.close();
    assert.equal(logger.errors.length, 1);
    assert.equal(
      (logger.errors[0][1] as Error).message,
      "secret internal detail",
    );
  },
);

suite(
  "WebSocket.iterText() ends quietly when the client disconnects",
  (app) => {
    const seen = probe<{ texts: string[]; state: number }>();
    app.websocket("/iter", async (ws) => {
      await ws.accept();
      const texts: string[] = [];
      for await (const text of ws.iterText()) texts.push(text);
      seen.resolve({ texts, state: ws.clientState });
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/iter");
    await ws.sendText("a");
    await ws.sendText("b");
    await ws.close(4001, "leaving");
    assert.deepEqual(await seen.promise, {
      texts: ["a", "b"],
      state: WebSocketState.DISCONNECTED,
    });
  },
);

suite(
  "Waiting receives: iterText() as an async iterator (wrong type, calls in a row, break), receiveText() given bytes",
  (app) => {
    const seen = probe<unknown[]>();
    app.websocket("/iter-edges", async (ws) => {
      const got: unknown[] = [];
      // Before accept(): rejects, and the iterator is then done.
      const early = ws.iterText();
      got.push(await caught(() => early.next()));
      got.push(await early.next());
      await ws.accept();
      // Each "ready" lets the client send once the iterator waits, so that
      // the messages reach a waiting iterator rather than the queue.
      // Two calls in a row, both waiting, take two messages in order.
      const texts = ws.iterText();
      await ws.sendText("ready");
      const [a, b] = await Promise.all([texts.next(), texts.next()]);
      got.push(a, b);
      // A binary message while it waits: the loop throws, the iterator ends.
      await ws.sendText("ready");
      try {
        for await (const text of texts) got.push(text);
      } catch (error) {
        got.push((error as Error).name);
      }
      got.push(await texts.next());
      // break ends an iterator; the next message goes to a new one.
      for await (const text of ws.iterText()) {
        got.push(text);
        break;
      }
      got.push(await ws.receiveText());
      // A typed receive that waits gets the wrong type: it throws, and the
      // message is consumed.
      await ws.sendText("ready");
      got.push(((await caught(() => ws.receiveText())) as Error).name);
      got.push(await ws.receiveBytes());
      // The disconnect ends a waiting iterator quietly.
      const last = ws.iterText();
      await ws.sendText("ready");
      got.push(await last.next(), await last.next());
      seen.resolve(got);
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/iter-edges");
    assert.equal(await ws.receiveText(), "ready");
    await ws.sendText("a");
    await ws.sendText("b");
    assert.equal(await ws.receiveText(), "ready");
    await ws.sendBytes(new Uint8Array([1]));
    await ws.sendText("c");
    await ws.sendText("d");
    assert.equal(await ws.receiveText(), "ready");
    await ws.sendBytes(new Uint8Array([2]));
    await ws.sendBytes(new Uint8Array([3]));
    assert.equal(await ws.receiveText(), "ready");
    await ws.close(4002);
    const [early, earlyNext, ...rest] = await seen.promise;
    assert.match((early as Error).message, /not accepted/);
    assert.deepEqual(earlyNext, { value: undefined, done: true });
    assert.deepEqual(rest, [
      { value: "a", done: false },
      { value: "b", done: false },
      "TypeError",
      { value: undefined, done: true },
      "c",
      "d",
      "TypeError",
      new Uint8Array([3]),
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
  },
);

suite(
  "A message larger than maxMessageSize closes with 1009",
  (app) => {
    const seen = probe<unknown[]>();
    app.websocket("/big", async (ws) => {
      await ws.accept();
      const got: unknown[] = [await ws.receiveText()];
      got.push(await caught(() => ws.receiveText()));
      seen.resolve(got);
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/big");
    await ws.sendText("small");
    await ws.sendText("é".repeat(600)); // 1200 UTF-8 bytes > 1024
    const error = await caught(() => ws.receiveText());
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 1009);
    assert.equal(error.reason, "Message too big");
    const [first, serverError] = await seen.promise;
    assert.equal(first, "small");
    assert.ok(serverError instanceof WebSocketDisconnect);
    assert.equal(serverError.code, 1009);
    await ws.close();
  },
  { maxMessageSize: 1024 },
);

suite(
  "More unread messages than maxQueuedMessages closes with 1008",
  (app) => {
    const context = { release: probe<void>(), seen: probe<unknown[]>() };
    app.websocket("/flood", async (ws) => {
      await ws.accept();
      await context.release.promise;
      const got: unknown[] = [];
      for await (const text of ws.iterText()) got.push(text);
      got.push(await ws.closed);
      context.seen.resolve(got);
    });
    return context;
  },
  async (c, { release, seen }) => {
    const ws = await c.connect("/flood");
    // Four fit the queue; the fifth overflows it.
    for (let i = 0; i < 5; i++) await ws.sendText(`m${i}`);
    const error = await caught(() => ws.receiveText());
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 1008);
    assert.equal(error.reason, "Too many unread messages");
    release.resolve();
    // What was queued before the overflow is still delivered, then the end.
    assert.deepEqual(await seen.promise, [
      "m0",
      "m1",
      "m2",
      "m3",
      { code: 1008, reason: "Too many unread messages" },
    ]);
    await ws.close();
  },
  { maxQueuedMessages: 4 },
);

suite(
  "Sending after the client left throws WebSocketDisconnect",
  (app) => {
    const seen = probe<unknown>();
    app.websocket("/gone", async (ws) => {
      await ws.accept();
      await ws.closed;
      seen.resolve(await caught(() => ws.sendText("anyone?")));
      // Closing after the client left is harmless.
      await ws.close();
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/gone");
    await ws.close(4002, "gone");
    const error = await seen.promise;
    assert.ok(error instanceof WebSocketDisconnect);
    assert.equal(error.code, 4002);
    assert.equal(error.reason, "gone");
  },
);

suite(
  "Messages sent while the handler is still busy after accept are not lost",
  (app) => {
    app.websocket("/early", async (ws) => {
      await ws.accept();
      await new Promise((resolve) => setTimeout(resolve, 30));
      await ws.sendText(`first: ${await ws.receiveText()}`);
      await ws.close();
    });
  },
  async (c) => {
    const ws = await c.connect("/early");
    await ws.sendText("sent on open");
    assert.equal(await ws.receiveText(), "first: sent on open");
    await ws.close();
  },
);

suite(
  "WebSocket keeps headers, cookies, query and client after the upgrade",
  (app) => {
    app.websocket("/info/{room}", async (ws) => {
      const before = [...ws.headers];
      await ws.accept();
      await ws.sendJson({
        same: JSON.stringify([...ws.headers]) === JSON.stringify(before),
        empty: ws.headers.get("x-empty"),
        url: ws.url.protocol + ws.url.pathname + ws.url.search,
        room: ws.pathParams.room,
        q: ws.queryParams.getAll("q"),
        header: ws.headers.get("x-token"),
        listed: [...ws.headers.keys()].includes("x-token"),
        cookie: ws.cookies.session,
        hasClient: typeof ws.client?.hostname === "string",
      });
      await ws.close();
    });
  },
  async (c) => {
    const ws = await c.connect("/info/a%20b?q=1&q=2", {
      headers: {
        "x-token": "t0k",
        "x-empty": "",
        cookie: 'session="abc=="; other=1',
      },
    });
    assert.deepEqual(await ws.receiveJson(), {
      same: true,
      empty: "",
      url: "ws:/info/a%20b?q=1&q=2",
      room: "a b",
      q: ["1", "2"],
      header: "t0k",
      listed: true,
      cookie: "abc==",
      hasClient: true,
    });
    await ws.close();
  },
);

suite(
  "WebSocket.signal aborts and closed resolves when the client leaves",
  (app) => {
    const seen = probe<{ before: boolean; after: boolean; closed: unknown }>();
    app.websocket("/signal", async (ws) => {
      await ws.accept();
      const signal = ws.signal;
      const before = signal.aborted;
      await ws.sendText("ready");
      const closed = await ws.closed;
      seen.resolve({ before, after: signal.aborted, closed });
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/signal");
    assert.equal(await ws.receiveText(), "ready");
    await ws.close(4005, "later");
    assert.deepEqual(await seen.promise, {
      before: false,
      after: true,
      closed: { code: 4005, reason: "later" },
    });
  },
);

suite(
  "WebSocket.receive() yields the connect, receive and disconnect messages",
  (app) => {
    const seen = probe<unknown[]>();
    app.websocket("/raw", async (ws) => {
      const connect = await ws.receive();
      await ws.accept();
      const messages: unknown[] = [connect];
      while (true) {
        const message = await ws.receive();
        messages.push(message);
        if (message.type === "websocket.disconnect") break;
      }
      seen.resolve(messages);
    });
    return seen;
  },
  async (c, seen) => {
    const ws = await c.connect("/raw");
    await ws.sendText("t");
    await ws.sendBytes(new Uint8Array([7]));
    await ws.close(4010, "r");
    assert.deepEqual(await seen.promise, [
      { type: "websocket.connect" },
      { type: "websocket.receive", text: "t" },
      { type: "websocket.receive", bytes: new Uint8Array([7]) },
      { type: "websocket.disconnect", code: 4010, reason: "r" },
    ]);
  },
);

// The runtime's own wording for an invalid header value is embedded in ours.
const INVALID_HEADER_MESSAGE = (() => {
  try {
    new Headers({ "x-a": "a\nb" });
    return "no error";
  } catch (error) {
    return (error as Error).message;
  }
})();

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.constructor.name}: ${error.message}`
    : String(error);
}

// Every misuse of the state machine, with its error class and message.
suite(
  "WebSocket state machine misuse throws errors that say what to do",
  (app) => {
    const report = probe<Record<string, string>>();
    app.websocket("/misuse", async (ws: WebSocket) => {
      const r: Record<string, string> = {};
      const record = async (key: string, fn: () => unknown) => {
        r[key] = describe(await caught(fn));
      };
      await record("sendBeforeAccept", () => ws.sendText("x"));
      await record("receiveBeforeAccept", () => ws.receiveText());
      await record(
        "rawSendBeforeAccept",
        () => ws.send({ type: "websocket.send", text: "x" }),
      );
      await record(
        "unofferedProtocol",
        () => ws.accept({ subprotocol: "nope" }),
      );
      await record(
        "reservedHeader",
        () => ws.accept({ headers: { upgrade: "x" } }),
      );
      await record(
        "badHeader",
        () => ws.accept({ headers: { "x-a": "a\nb" } }),
      );
      await ws.accept();
      await record("acceptTwice", () => ws.accept());
      await record(
        "denialAfterAccept",
        () => ws.sendDenialResponse(new Response(null)),
      );
      await record("badCode", () => ws.close(1005));
      await record("longReason", () => ws.close(1000, "é".repeat(62)));
      await record("badMode", () => ws.sendJson({}, "xml" as "text"));
      await record("noJson", () => ws.sendJson(undefined));
      await record(
        "unknownType",
        () => ws.send({ type: "websocket.nope" } as never),
      );
      await record("bytesAsText", () => ws.receiveText());
      await record("textAsBytes", () => ws.receiveBytes());
      await record("textAsBinaryJson", () => ws.receiveJson("binary"));
      await ws.sendText("ready");
      // The client closes: the disconnect is received once, then receiving
      // again is misuse.
      await record("disconnect", () => ws.receiveText());
      await record("receiveAfterDisconnect", () => ws.receiveText());
      await record("rawReceiveAfterDisconnect", () => ws.receive());
      await ws.close();
      await record("sendAfterClose", () => ws.sendText("x"));
      await record("closeTwice", () => ws.close());
      await record("receiveAfterClose", () => ws.receiveBytes());
      report.resolve(r);
    });
    return report;
  },
  async (c, report) => {
    const ws = await c.connect("/misuse");
    await ws.sendBytes(new Uint8Array([1]));
    await ws.sendText("text");
    await ws.sendText("not binary");
    assert.equal(await ws.receiveText(), "ready");
    await ws.close(4000, "done");
    assert.deepEqual(await report.promise, {
      sendBeforeAccept:
        "Error: Cannot send text: WebSocket is not accepted (state CONNECTING): call accept() first",
      receiveBeforeAccept:
        "Error: Cannot receive text: WebSocket is not accepted (state CONNECTING): call accept() first",
      rawSendBeforeAccept:
        "Error: Cannot send message: WebSocket is not accepted (state CONNECTING): call accept() first",
      unofferedProtocol:
        'Error: Cannot accept: subprotocol "nope" was not offered by the client (offered: none): choose one of ws.subprotocols',
      reservedHeader:
        'TypeError: Cannot accept: header "upgrade" is set by the handshake itself',
      badHeader:
        `TypeError: Cannot accept: invalid response header: ${INVALID_HEADER_MESSAGE}: header names must be tokens and values must not contain CR, LF or NUL`,
      acceptTwice:
        "Error: Cannot accept: WebSocket is already accepted (state CONNECTED): call accept() once, before sending",
      denialAfterAccept:
        "Error: Cannot send denial response: WebSocket is already accepted (state CONNECTED): a denial response is only possible before accept()",
      badCode:
        "RangeError: Cannot close: close code 1005 may not be sent: use 1000, 1001-1014 except 1004-1006, or 3000-4999",
      longReason:
        "RangeError: Cannot close: the close reason is longer than 123 UTF-8 bytes: shorten it",
      badMode:
        'TypeError: Cannot send JSON: mode must be "text" or "binary", got "xml"',
      noJson:
        "TypeError: Cannot send JSON: undefined has no JSON form: send an object, array, string, number, boolean or null",
      unknownType:
        'TypeError: Cannot send message: unknown message type "websocket.nope": expected "websocket.accept", "websocket.send" or "websocket.close"',
      bytesAsText:
        "TypeError: Cannot receive text: expected a text message, got a binary message: use receiveBytes() for binary messages",
      textAsBytes:
        "TypeError: Cannot receive bytes: expected a binary message, got a text message: use receiveText() for text messages",
      textAsBinaryJson:
        'TypeError: Cannot receive JSON: expected a binary message, got a text message: use mode "text" for JSON in text messages',
      disconnect:
        "WebSocketDisconnect: WebSocket disconnected with code 4000: done",
      receiveAfterDisconnect:
        "Error: Cannot receive text: the disconnect message was already received (client state DISCONNECTED): stop receiving once the client has gone",
      rawReceiveAfterDisconnect:
        "Error: Cannot receive message: the disconnect message was already received (client state DISCONNECTED): stop receiving once the client has gone",
      sendAfterClose:
        "Error: Cannot send text: a close message was already sent (state DISCONNECTED): do not send after close()",
      closeTwice:
        "Error: Cannot close: WebSocket is closed (state DISCONNECTED): a close message or response has already been sent",
      receiveAfterClose:
        "Error: Cannot receive bytes: WebSocket is closed (state DISCONNECTED): a close message or response has already been sent",
    });
  },
);
