// Typed message protocols, end to end: the server's ws.messages()/emit()
// and the typed client, over both transports (TestClient.WebSocket in
// memory, and Deno.serve with Deno's own WebSocket), with zod and valibot.
import assert from "node:assert/strict";
import * as v from "valibot";
import { z } from "zod";
import {
  App,
  defineProtocol,
  type Protocol,
  type ProtocolRequest,
  type StandardSchemaV1,
  WebSocketDisconnect,
  WebSocketRoute,
} from "../mod.ts";
import {
  type ClientStatus,
  connect,
  ProtocolError,
  type WebSocketConstructor,
} from "../client.ts";
import { TestClient } from "../testing.ts";

const zodChat = defineProtocol({
  receives: {
    say: z.object({ text: z.string().max(20) }),
    hold: z.object({}),
  },
  sends: { said: z.object({ text: z.string().max(20) }) },
  requests: {
    history: {
      input: z.object({ limit: z.number().int().max(100) }),
      output: z.array(z.string()),
    },
    slow: { input: z.object({ n: z.number() }), output: z.number() },
  },
});

const valibotChat = defineProtocol({
  receives: {
    say: v.object({ text: v.pipe(v.string(), v.maxLength(20)) }),
    hold: v.object({}),
  },
  sends: { said: v.object({ text: v.pipe(v.string(), v.maxLength(20)) }) },
  requests: {
    history: {
      input: v.object({
        limit: v.pipe(v.number(), v.integer(), v.maxValue(100)),
      }),
      output: v.array(v.string()),
    },
    slow: { input: v.object({ n: v.number() }), output: v.number() },
  },
});

type Chat = typeof zodChat | typeof valibotChat;

// What an error frame looks like on the wire (parsed, not cast, in tests).
const errorFrame = z.object({
  type: z.literal("error"),
  id: z.union([z.string(), z.number()]).optional(),
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({
      path: z.array(z.union([z.string(), z.number()])),
      message: z.string(),
    })).optional(),
  }),
});

/** The app under test: echoes `say`, answers `history`, holds `slow`. */
function chatApp(protocol: Chat, onInvalid?: "close"): App {
  const app = new App({ logger: { error() {}, warn() {} } });
  app.websocket("/chat", { protocol, onInvalid }, async (ws) => {
    await ws.accept();
    // `slow` requests wait here until a `hold` message releases them, then
    // are answered in reverse order.
    const held: ProtocolRequest<"slow", { n: number }, number>[] = [];
    for await (const m of ws.messages()) {
      if (m.type === "say") {
        if (m.data.text === "bad-emit") {
          // A server bug: data the protocol forbids. Caught here, it must
          // be a TypeError thrown at the call, with nothing sent.
          const error = await ws.emit("said", { text: "x".repeat(30) }).catch((
            e,
          ) => e);
          await ws.emit("said", {
            text: error instanceof TypeError ? "TypeError" : "no error",
          });
        } else await ws.emit("said", { text: m.data.text });
      } else if (m.type === "history") {
        if (m.data.limit < 0) {
          await m.fail("negative", "limit must not be negative");
        } else await m.reply(["a", "b", "c"].slice(0, m.data.limit));
      } else if (m.type === "slow") {
        held.push(m);
      } else if (m.type === "hold") {
        for (const request of held.reverse()) {
          await request.reply(request.data.n * 2);
        }
        held.length = 0;
      }
    }
  });
  return app;
}

interface Transport {
  name: string;
  run(
    app: App,
    test: (url: string, WebSocket: WebSocketConstructor) => Promise<void>,
  ): Promise<void>;
}

async function idle(app: App): Promise<void> {
  for (let i = 0; app.connections > 0; i++) {
    if (i > 500) throw new Error("Timed out waiting for the app to be idle");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const transports: Transport[] = [
  {
    name: "memory",
    async run(app, test) {
      const client = new TestClient(app, { raiseServerExceptions: false });
      await test("ws://testserver", client.WebSocket);
      await idle(app);
    },
  },
  {
    name: "real",
    async run(app, test) {
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        app.fetch,
      );
      try {
        await test(`ws://127.0.0.1:${server.addr.port}`, WebSocket);
        await idle(app);
      } finally {
        await app.shutdown({ timeoutMs: 2000 });
        await server.shutdown();
      }
    },
  },
];

/** A socket that speaks raw frames, to send what the typed client won't. */
async function rawSocket(WebSocket: WebSocketConstructor, url: string) {
  const socket = new WebSocket(url);
  const frames: string[] = [];
  const waiters: ((frame: string) => void)[] = [];
  const closed = Promise.withResolvers<{ code: number; reason: string }>();
  socket.addEventListener("message", (event) => {
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(String(event.data));
    else frames.push(String(event.data));
  });
  socket.addEventListener("close", (event) => {
    closed.resolve({ code: event.code, reason: event.reason });
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error("not opened")));
  });
  return {
    send: (text: string) => socket.send(text),
    next(): Promise<unknown> {
      const frame = frames.shift();
      if (frame !== undefined) return Promise.resolve(JSON.parse(frame));
      return new Promise((resolve) =>
        waiters.push((text) => resolve(JSON.parse(text)))
      );
    },
    closed: closed.promise,
    async close() {
      socket.close();
      await closed.promise;
    },
  };
}

async function first<T>(iterator: AsyncIterableIterator<T>): Promise<T> {
  const result = await iterator.next();
  assert.ok(!result.done, "expected a message, the iterator ended");
  return result.value;
}

for (const transport of transports) {
  for (
    const [vendor, chat] of [["zod", zodChat], [
      "valibot",
      valibotChat,
    ]] as const
  ) {
    const label = `Protocol (${transport.name}, ${vendor})`;

    Deno.test(`${label}: emit and messages() round-trip, typed both ways`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const client = await connect(chat, `${url}/chat`, { WebSocket });
        assert.equal(client.status, "open");
        const messages = client.messages();
        await client.emit("say", { text: "hello" });
        const m = await first(messages);
        assert.deepEqual(m, { type: "said", data: { text: "hello" } });
        await messages.return?.();
        await client.close();
        assert.equal(client.status, "closed");
      });
    });

    Deno.test(`${label}: an unknown type gets an error pointing at "type", and the loop goes on`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const raw = await rawSocket(WebSocket, `${url}/chat`);
        raw.send(JSON.stringify({ type: "shout", data: {} }));
        assert.deepEqual(await raw.next(), {
          type: "error",
          error: {
            code: "unknown_type",
            message:
              'Cannot read message: unknown type "shout": expected "say", "hold", "history", "slow"',
            issues: [{ path: ["type"], message: 'Unknown type "shout"' }],
          },
        });
        raw.send(JSON.stringify({ type: "say", data: { text: "still here" } }));
        assert.deepEqual(await raw.next(), {
          type: "said",
          data: { text: "still here" },
        });
        await raw.close();
      });
    });

    Deno.test(`${label}: invalid JSON gets an invalid_json error, with the request's loop going on`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const raw = await rawSocket(WebSocket, `${url}/chat`);
        raw.send("{not json");
        const error = errorFrame.parse(await raw.next());
        assert.equal(error.error.code, "invalid_json");
        raw.send(
          JSON.stringify({ type: "history", id: "h1", data: { limit: 2 } }),
        );
        assert.deepEqual(await raw.next(), {
          type: "history",
          id: "h1",
          data: ["a", "b"],
        });
        await raw.close();
      });
    });

    Deno.test(`${label}: a schema failure names the bad field, keeps the id, and the loop goes on`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const raw = await rawSocket(WebSocket, `${url}/chat`);
        raw.send(JSON.stringify({ type: "say", data: { text: 42 } }));
        const said = errorFrame.parse(await raw.next());
        assert.equal(said.error.code, "invalid_data");
        assert.deepEqual(said.error.issues?.map((i) => i.path), [[
          "data",
          "text",
        ]]);
        raw.send(
          JSON.stringify({ type: "history", id: 7, data: { limit: 1000 } }),
        );
        const asked = errorFrame.parse(await raw.next());
        assert.equal(asked.id, 7);
        assert.equal(asked.error.code, "invalid_data");
        assert.deepEqual(asked.error.issues?.[0].path, ["data", "limit"]);
        raw.send(JSON.stringify({ type: "history", data: { limit: 1 } }));
        const noId = errorFrame.parse(await raw.next());
        assert.equal(noId.id, undefined);
        assert.equal(noId.error.code, "invalid_id");
        raw.send(JSON.stringify({ type: "say", data: { text: "ok" } }));
        assert.deepEqual(await raw.next(), {
          type: "said",
          data: { text: "ok" },
        });
        await raw.close();
      });
    });

    Deno.test(`${label}: request() answers, and the server's fail() is a ProtocolError`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const client = await connect(chat, `${url}/chat`, { WebSocket });
        assert.deepEqual(await client.request("history", { limit: 2 }), [
          "a",
          "b",
        ]);
        const error = await client.request("history", { limit: -1 }).catch((
          e,
        ) => e);
        assert.ok(error instanceof ProtocolError);
        assert.equal(error.code, "negative");
        assert.equal(error.message, "limit must not be negative");
        // Checked before sending: nothing reaches the server.
        const invalid = await client.request("history", { limit: 1.5 }).catch((
          e,
        ) => e);
        assert.ok(invalid instanceof TypeError);
        assert.match(invalid.message, /data\.limit/);
        await client.close();
      });
    });

    Deno.test(`${label}: replies out of order reach the right requests`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const client = await connect(chat, `${url}/chat`, { WebSocket });
        const one = client.request("slow", { n: 1 });
        const two = client.request("slow", { n: 2 });
        const three = client.request("slow", { n: 3 });
        await client.emit("hold", {});
        assert.deepEqual(await Promise.all([one, two, three]), [2, 4, 6]);
        await client.close();
      });
    });

    Deno.test(`${label}: a request nobody answers times out with a TimeoutError`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const client = await connect(chat, `${url}/chat`, { WebSocket });
        const error = await client.request("slow", { n: 1 }, { timeoutMs: 50 })
          .catch((e) => e);
        assert.ok(error instanceof DOMException);
        assert.equal(error.name, "TimeoutError");
        const controller = new AbortController();
        const aborted = client.request("slow", { n: 2 }, {
          signal: controller.signal,
        }).catch((e) => e);
        controller.abort(new Error("user gave up"));
        assert.equal((await aborted).message, "user gave up");
        await client.close();
      });
    });

    Deno.test(`${label}: requests pending when the socket closes reject with WebSocketDisconnect`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const client = await connect(chat, `${url}/chat`, { WebSocket });
        const pending = [
          client.request("slow", { n: 1 }),
          client.request("slow", { n: 2 }),
        ].map((p) => p.catch((e) => e));
        // Sent ahead of the close: the server has them pending.
        await client.emit("say", { text: "sync" });
        for await (const m of client.messages()) {
          assert.equal(m.type, "said");
          break;
        }
        await client.close(4000, "bye");
        for (const error of await Promise.all(pending)) {
          assert.ok(error instanceof WebSocketDisconnect);
          assert.equal(error.code, 4000);
        }
        const late = await client.emit("say", { text: "late" }).catch((e) => e);
        assert.ok(late instanceof WebSocketDisconnect);
      });
    });

    Deno.test(`${label}: outgoing data that breaks the protocol is a TypeError at the call, never a frame`, async () => {
      await transport.run(chatApp(chat), async (url, WebSocket) => {
        const client = await connect(chat, `${url}/chat`, { WebSocket });
        const messages = client.messages();
        await client.emit("say", { text: "bad-emit" });
        assert.deepEqual(await first(messages), {
          type: "said",
          data: { text: "TypeError" },
        });
        const error = await client.emit("say", { text: "x".repeat(21) }).catch((
          e,
        ) => e);
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^Cannot emit "say": .*data\.text/);
        await messages.return?.();
        await client.close();
      });
    });

    Deno.test(`${label}: onInvalid "close" closes with 1007 for invalid JSON and 1008 for a schema failure`, async () => {
      await transport.run(chatApp(chat, "close"), async (url, WebSocket) => {
        const notJson = await rawSocket(WebSocket, `${url}/chat`);
        notJson.send("nope");
        assert.equal((await notJson.closed).code, 1007);
        const invalid = await rawSocket(WebSocket, `${url}/chat`);
        invalid.send(JSON.stringify({ type: "say", data: {} }));
        const closed = await invalid.closed;
        assert.equal(closed.code, 1008);
        assert.match(closed.reason, /^Cannot read message "say": data\.text/);
      });
    });
  }

  Deno.test(`Protocol (${transport.name}): a request left unanswered when the handler returns gets an "unanswered" error`, async () => {
    const app = new App();
    app.websocket("/once", { protocol: zodChat }, async (ws) => {
      await ws.accept();
      await ws.receiveMessage(); // the request, never answered
    });
    await transport.run(app, async (url, WebSocket) => {
      const client = await connect(zodChat, `${url}/once`, { WebSocket });
      const error = await client.request("slow", { n: 1 }).catch((e) => e);
      assert.ok(error instanceof ProtocolError, String(error));
      assert.equal(error.code, "unanswered");
      await client.closed;
    });
  });
}

Deno.test("Typed client: reconnects with backoff after the server restarts the connection", async () => {
  const app = new App();
  let connections = 0;
  app.websocket("/chat", { protocol: zodChat }, async (ws) => {
    await ws.accept();
    connections++;
    if (connections === 1) {
      await ws.close(1012, "restarting");
      return;
    }
    for await (const m of ws.messages()) {
      if (m.type === "say") await ws.emit("said", { text: m.data.text });
    }
  });
  const client = new TestClient(app);
  const seen: ClientStatus[] = [];
  const room = await connect(zodChat, "ws://testserver/chat", {
    WebSocket: client.WebSocket,
    reconnect: { retries: 3, minDelayMs: 5, maxDelayMs: 20 },
    onStatus: (status) => seen.push(status),
  });
  const messages = room.messages();
  for (let i = 0; room.status !== "open" || connections < 2; i++) {
    if (i > 500) throw new Error(`still ${room.status}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await room.emit("say", { text: "back" });
  assert.deepEqual(await first(messages), {
    type: "said",
    data: { text: "back" },
  });
  assert.deepEqual(seen, ["open", "reconnecting", "open"]);
  await room.close();
  assert.equal((await messages.next()).done, true);
  assert.deepEqual(seen, ["open", "reconnecting", "open", "closed"]);
});

Deno.test("Typed client: without reconnect, a refused connection rejects connect() with WebSocketDisconnect", async () => {
  const app = new App({ logger: { error() {}, warn() {} } });
  const error = await connect(zodChat, "ws://testserver/nowhere", {
    WebSocket: new TestClient(app).WebSocket,
  }).catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.equal(error.code, 1006);
});

Deno.test("Typed client: with reconnect, gives up after the retries and says so", async () => {
  const app = new App({ logger: { error() {}, warn() {} } });
  const seen: ClientStatus[] = [];
  const error = await connect(zodChat, "ws://testserver/nowhere", {
    WebSocket: new TestClient(app).WebSocket,
    reconnect: { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
    onStatus: (status) => seen.push(status),
  }).catch((e) => e);
  assert.ok(error instanceof WebSocketDisconnect);
  assert.deepEqual(seen, ["closed"]);
});

Deno.test("Typed client: bad reconnect options are a RangeError", async () => {
  const error = await connect(zodChat, "ws://testserver/chat", {
    WebSocket: new TestClient(new App()).WebSocket,
    reconnect: { minDelayMs: 100, maxDelayMs: 10 },
  }).catch((e) => e);
  assert.ok(error instanceof RangeError);
  assert.match(error.message, /maxDelayMs \(10\) is below minDelayMs \(100\)/);
});

Deno.test("defineProtocol() returns a frozen object of exactly receives, sends and requests", () => {
  const say = z.object({ text: z.string() });
  const input = z.object({});
  const output = z.string();
  const p: Protocol = defineProtocol({
    receives: { say },
    requests: { who: { input, output } },
  });
  assert.deepEqual(Object.keys(p), ["receives", "sends", "requests"]);
  assert.ok(Object.isFrozen(p));
  assert.equal(p.receives.say, say);
  assert.deepEqual(p.sends, {});
  assert.equal(p.requests.who.input, input);
  assert.equal(p.requests.who.output, output);
});

Deno.test("defineProtocol() refuses what cannot be a protocol, naming the fix", () => {
  assert.throws(
    // @ts-expect-error: not a schema
    () => defineProtocol({ receives: { say: { text: "no" } } }),
    {
      name: "TypeError",
      message:
        'Cannot define protocol: receives."say" is not a Standard Schema v1 validator: pass a zod, valibot or arktype schema',
    },
  );
  assert.throws(() => defineProtocol({ sends: { error: z.string() } }), {
    name: "TypeError",
    message:
      'Cannot define protocol: sends."error" is reserved for error messages: choose another name',
  });
  assert.throws(
    () =>
      defineProtocol({
        receives: { a: z.string() },
        requests: { a: { input: z.string(), output: z.string() } },
      }),
    /"a" is both in receives and in requests/,
  );
});

Deno.test("A protocol route's options are checked at registration; the protocol is readable on the route", () => {
  const app = new App();
  assert.throws(
    () =>
      app.websocket("/x", { onInvalid: "close" }, async (ws) => {
        await ws.accept();
      }),
    {
      name: "TypeError",
      message:
        'Cannot register route "/x": option onInvalid needs a protocol: pass { protocol: defineProtocol(...) } too',
    },
  );
  app.websocket("/chat", { protocol: zodChat }, async (ws) => {
    await ws.accept();
  });
  const route = app.routes[0];
  assert.ok(route instanceof WebSocketRoute);
  assert.equal(route.options.protocol, zodChat);
});

Deno.test("WebSocket.messages() on a route without a protocol throws an Error that names the fix", async () => {
  const app = new App();
  let error: unknown;
  app.websocket("/plain", async (ws) => {
    await ws.accept();
    try {
      await ws.receiveMessage();
    } catch (e) {
      error = e;
    }
  });
  const session = await new TestClient(app).websocketConnect("/plain");
  await session.close();
  assert.ok(error instanceof Error);
  assert.equal(
    error.message,
    "Cannot receive message: the route has no protocol: pass { protocol: defineProtocol(...) } in its options, or use receiveJson()/sendJson()",
  );
});

Deno.test("Typed client: messages sent just before the server closes all reach the loop; unknown envelope members are ignored", async () => {
  const app = new App();
  app.websocket("/burst", { protocol: zodChat }, async (ws) => {
    await ws.accept();
    for (let i = 0; i < 3; i++) await ws.emit("said", { text: `m${i}` });
    // What a broadcast envelope will add: readers must not trip on it.
    await ws.sendText(
      JSON.stringify({
        type: "said",
        data: { text: "from a channel" },
        channel: "room",
        epoch: "e1",
        offset: 3,
      }),
    );
    await ws.close(1000);
  });
  const client = await connect(zodChat, "ws://testserver/burst", {
    WebSocket: new TestClient(app).WebSocket,
  });
  await client.closed;
  const texts: string[] = [];
  for await (const m of client.messages()) {
    if (m.type === "said") texts.push(m.data.text);
  }
  assert.deepEqual(texts, ["m0", "m1", "m2", "from a channel"]);
  // The loop ended with the client; another one may start (and ends).
  assert.equal((await client.messages().next()).done, true);
});

Deno.test("Typed client: one messages() loop at a time, and a server error that answers no request comes through it", async () => {
  const app = new App();
  app.websocket("/e", { protocol: zodChat }, async (ws) => {
    await ws.accept();
    await ws.sendText(JSON.stringify({ type: "nonsense", data: 1 }));
    await ws.receiveMessage().catch(() => {});
  });
  const client = await connect(zodChat, "ws://testserver/e", {
    WebSocket: new TestClient(app).WebSocket,
  });
  const messages = client.messages();
  assert.throws(() => client.messages(), {
    message:
      "Cannot iterate messages: another messages() loop is running: end it first (break), or share its messages",
  });
  const m = await first(messages);
  assert.equal(m.type, "error");
  if (m.type === "error") assert.equal(m.error.code, "unknown_type");
  await messages.return?.();
  await client.close();
});

Deno.test("TestClient.WebSocket behaves as the WHATWG WebSocket does", async () => {
  const app = new App({ logger: { error() {}, warn() {} } });
  app.websocket("/bytes", async (ws) => {
    await ws.accept({ subprotocol: "v1" });
    await ws.sendBytes(new Uint8Array([1, 2, 3]));
    await ws.receiveText().catch(() => {});
  });
  const client = new TestClient(app);
  const socket = new client.WebSocket("ws://testserver/bytes", ["v0", "v1"]);
  assert.equal(socket.readyState, WebSocket.CONNECTING);
  assert.throws(() => socket.send("early"), { name: "InvalidStateError" });
  assert.throws(() => socket.close(1001), { name: "InvalidAccessError" });
  socket.binaryType = "arraybuffer";
  const event = await new Promise<MessageEvent>((resolve) =>
    socket.onmessage = resolve
  );
  assert.equal(socket.protocol, "v1");
  assert.ok(event.data instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(event.data)], [1, 2, 3]);
  const closed = new Promise<CloseEvent>((resolve) =>
    socket.addEventListener("close", resolve)
  );
  socket.close(4000, "done");
  assert.equal(socket.readyState, WebSocket.CLOSING);
  const close = await closed;
  assert.equal(close.code, 4000);
  assert.equal(close.wasClean, true);
  assert.equal(socket.readyState, WebSocket.CLOSED);

  const refused = new client.WebSocket("ws://testserver/nowhere");
  const events: string[] = [];
  refused.onerror = () => events.push("error");
  const code = await new Promise<number>((resolve) =>
    refused.onclose = (e) => resolve(e.code)
  );
  assert.deepEqual(events, ["error"]);
  assert.equal(code, 1006);
  assert.throws(() => new client.WebSocket("http://x/#frag"), {
    name: "SyntaxError",
  });
});

// A Standard Schema whose validate() returns a promise (as zod's does with
// async refinements), answering later for shorter texts.
function slowText(): StandardSchemaV1<{ text: string }> {
  return {
    "~standard": {
      version: 1,
      vendor: "test",
      validate: (value) =>
        new Promise((resolve) => {
          const text = typeof value === "object" && value !== null &&
              "text" in value && typeof value.text === "string"
            ? value.text
            : undefined;
          setTimeout(
            () =>
              resolve(
                text === undefined
                  ? { issues: [{ message: "Expected { text }" }] }
                  : { value: { text } },
              ),
            text === undefined ? 0 : 30 - text.length,
          );
        }),
    },
  };
}

Deno.test("Protocol: a validator that answers asynchronously keeps messages in order on both sides", async () => {
  const slow = defineProtocol({
    receives: { say: slowText() },
    sends: { said: slowText() },
  });
  const texts = ["a", "bbbbbbbbbbbbbbbbbbbb", "cc", "ddddddddddd"];
  const app = new App();
  app.websocket("/slow", { protocol: slow }, async (ws) => {
    await ws.accept();
    // The client's frames, validated one after the other.
    const heard: string[] = [];
    for await (const m of ws.messages()) {
      heard.push(m.data.text);
      if (heard.length === texts.length) break;
    }
    // Sent at once: the client validates them concurrently, the short
    // ones first, and must still deliver them in order.
    for (const text of heard) {
      void ws.sendText(JSON.stringify({ type: "said", data: { text } }));
    }
    await ws.receiveMessage().catch(() => {});
  });
  const client = await connect(slow, "ws://testserver/slow", {
    WebSocket: new TestClient(app).WebSocket,
  });
  for (const text of texts) await client.emit("say", { text });
  const got: string[] = [];
  for await (const m of client.messages()) {
    if (m.type === "said") got.push(m.data.text);
    if (got.length === texts.length) break;
  }
  assert.deepEqual(got, texts);
  await client.close();
});

Deno.test('Protocol: a binary frame gets an invalid_message error, or closes with 1003 under onInvalid "close"', async () => {
  const client = new TestClient(chatApp(zodChat));
  await using lenient = await client.websocketConnect("/chat");
  await lenient.sendBytes(new Uint8Array([123, 125]));
  const error = errorFrame.parse(await lenient.receiveJson());
  assert.equal(error.error.code, "invalid_message");
  assert.equal(
    error.error.message,
    "Cannot read message: expected a JSON text frame, got a binary frame",
  );
  const strict = await new TestClient(chatApp(zodChat, "close"))
    .websocketConnect("/chat");
  await strict.sendBytes(new Uint8Array([123, 125]));
  const closed = await strict.receiveText().catch((e) => e);
  assert.ok(closed instanceof WebSocketDisconnect);
  assert.equal(closed.code, 1003);
  await strict.close();
});

Deno.test("Protocol: a request id still pending may not be reused; answering twice throws", async () => {
  const app = new App();
  let second: unknown;
  app.websocket("/twice", { protocol: zodChat }, async (ws) => {
    await ws.accept();
    const m = await ws.receiveMessage();
    if (m.type !== "slow") return;
    // The duplicate is answered with an error and skipped: this is "hold".
    assert.equal((await ws.receiveMessage()).type, "hold");
    await m.reply(1);
    second = await m.reply(2).catch((e) => e);
  });
  const session = await new TestClient(app).websocketConnect("/twice");
  await session.sendJson({ type: "slow", id: "a", data: { n: 1 } });
  await session.sendJson({ type: "slow", id: "a", data: { n: 2 } });
  const duplicate = errorFrame.parse(await session.receiveJson());
  assert.equal(duplicate.id, "a");
  assert.equal(duplicate.error.code, "invalid_id");
  // The handler is still waiting for a valid message: give it one.
  await session.sendJson({ type: "hold", data: {} });
  assert.deepEqual(await session.receiveJson(), {
    type: "slow",
    id: "a",
    data: 1,
  });
  await session.close();
  assert.ok(second instanceof Error);
  assert.equal(
    second.message,
    'Cannot reply to request "slow" (id "a"): it was already answered: answer each request once',
  );
});

Deno.test('A route\'s onInvalid must be "error" or "close"', () => {
  assert.throws(
    () =>
      new App().websocket(
        "/x",
        // @ts-expect-error: not a policy
        { protocol: zodChat, onInvalid: "ignore" },
        async (ws) => await ws.accept(),
      ),
    {
      name: "TypeError",
      message:
        'Cannot register route "/x": option onInvalid must be "error" or "close", got "ignore"',
    },
  );
});
