// Broadcast on protocol routes: the envelope (`channel`, `epoch`, `offset`)
// around published messages, `ws.resume`, and the typed client resuming by
// itself after the connection is cut, over a real socket and in memory.
import assert from "node:assert/strict";
import { z } from "zod";
import { App, defineProtocol, type WebSocket as ServerSocket } from "../mod.ts";
import {
  Broadcast,
  BroadcastChannelBackend,
  MemoryBackend,
} from "../broadcast.ts";
import {
  type ClientStatus,
  connect,
  type ProtocolClient,
  type WebSocketConstructor,
} from "../client.ts";
import { TestClient } from "../testing.ts";
import { Forwarder } from "./_forwarder.ts";

const feed = defineProtocol({
  receives: {},
  sends: { tick: z.object({ n: z.number() }) },
});

const tick = (n: number) => ({ type: "tick", data: { n } });

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The `n` of the next `count` messages. */
async function ticks(
  messages: AsyncIterableIterator<unknown>,
  count: number,
): Promise<number[]> {
  const seen: number[] = [];
  while (seen.length < count) {
    const { value, done } = await messages.next();
    assert.ok(!done, `ended after ${seen.join(",")}`);
    const message = value as { type: string; data: { n: number } };
    assert.equal(message.type, "tick", JSON.stringify(message));
    seen.push(message.data.n);
  }
  return seen;
}

/**
 * A feed app: every connection joins "ticks", resuming from `ws.resume`;
 * while `gate.refusing`, connections are refused (a restarting server).
 */
function feedApp(broadcast: Broadcast) {
  const app = new App();
  const resumes: unknown[] = [];
  const sockets: ServerSocket[] = [];
  const gate = { refusing: false };
  app.websocket("/feed", { protocol: feed }, async (ws) => {
    if (gate.refusing) {
      await ws.close(1013);
      return;
    }
    await ws.accept();
    resumes.push(ws.resume);
    sockets.push(ws);
    await broadcast.join("ticks", ws, { since: ws.resume?.["ticks"] });
    for await (const _ of ws.messages()); // until the client leaves
  });
  app.websocket("/raw", async (ws) => {
    await ws.accept();
    await broadcast.join("ticks", ws);
    for await (const _ of ws.iterText());
  });
  return { app, resumes, sockets, gate };
}

Deno.test("Broadcast: a member on a protocol route gets the envelope with channel, epoch and offset; a raw member the message as published", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  const { app } = feedApp(broadcast);
  const client = new TestClient(app);
  await using onProtocol = await client.websocketConnect("/feed");
  await using raw = await client.websocketConnect("/raw");
  await until("both joined", () => broadcast.members("ticks").length === 2);
  const position = await broadcast.publish("ticks", tick(1));
  assert.deepEqual(await onProtocol.receiveJson(), {
    type: "tick",
    data: { n: 1 },
    channel: "ticks",
    epoch: position.epoch,
    offset: 1,
  });
  assert.equal(await raw.receiveText(), '{"type":"tick","data":{"n":1}}');
  // Text and bytes are not protocol messages: sent as published.
  await broadcast.publish("ticks", "plain");
  assert.equal(await onProtocol.receiveText(), "plain");
  assert.equal(await raw.receiveText(), "plain");
  // A replay is framed the same way.
  await using again = await client.websocketConnect(
    `/feed?wsapi-resume=${
      encodeURIComponent(JSON.stringify({ ticks: position }))
    }`,
  );
  assert.equal(await again.receiveText(), "plain");
  await broadcast.publish("ticks", tick(3));
  assert.deepEqual(await again.receiveJson(), {
    type: "tick",
    data: { n: 3 },
    channel: "ticks",
    epoch: position.epoch,
    offset: 3,
  });
  await broadcast.close();
});

Deno.test("Broadcast: with a backend that keeps no history, the envelope has the channel only", async () => {
  const broadcast = new Broadcast(
    new BroadcastChannelBackend("broadcast-protocol-test"),
  );
  const { app } = feedApp(broadcast);
  await using ws = await new TestClient(app).websocketConnect("/feed");
  await until("joined", () => broadcast.members("ticks").length === 1);
  await broadcast.publish("ticks", tick(1));
  assert.deepEqual(await ws.receiveJson(), {
    type: "tick",
    data: { n: 1 },
    channel: "ticks",
  });
  await broadcast.close();
});

Deno.test("WebSocket.resume: the well-formed entries of the wsapi-resume parameter, frozen; undefined without one", async () => {
  const app = new App();
  app.websocket("/", async (ws) => {
    await ws.accept();
    const resume = ws.resume;
    await ws.sendJson({
      resume: resume ?? null,
      frozen: resume === undefined || Object.isFrozen(resume),
      own: resume !== undefined && Object.hasOwn(resume, "__proto__"),
    });
  });
  const client = new TestClient(app);
  const read = async (query: string) => {
    await using ws = await client.websocketConnect(`/${query}`);
    return await ws.receiveJson();
  };
  const param = (value: unknown) =>
    `?wsapi-resume=${encodeURIComponent(JSON.stringify(value))}`;
  assert.deepEqual(await read(""), { resume: null, frozen: true, own: false });
  assert.deepEqual(await read("?wsapi-resume=not%20json"), {
    resume: null,
    frozen: true,
    own: false,
  });
  assert.deepEqual(await read(param([1])), {
    resume: null,
    frozen: true,
    own: false,
  });
  // Written as text: an object literal's __proto__ would set the prototype.
  const entries = '{"a":{"epoch":"e","offset":2},"b":{"epoch":1,"offset":2},' +
    '"c":{"epoch":"e","offset":-1},"d":{"epoch":"e","offset":1.5},"e":null,' +
    '"__proto__":{"epoch":"p","offset":0}}';
  assert.deepEqual(
    await read(`?wsapi-resume=${encodeURIComponent(entries)}`),
    {
      resume: JSON.parse(
        '{"a":{"epoch":"e","offset":2},"__proto__":{"epoch":"p","offset":0}}',
      ),
      frozen: true,
      own: true,
    },
  );
});

async function resumeAfterCut(
  url: string,
  WebSocket: WebSocketConstructor,
  cut: () => Promise<void>,
  restore: () => void,
  broadcast: Broadcast<MemoryBackend>,
  resumes: unknown[],
) {
  const statuses: ClientStatus[] = [];
  const client: ProtocolClient<typeof feed> = await connect(feed, url, {
    WebSocket,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
    onStatus: (status) => statuses.push(status),
  });
  const messages = client.messages();
  try {
    await until("joined", () => broadcast.members("ticks").length === 1);
    for (const n of [1, 2, 3]) await broadcast.publish("ticks", tick(n));
    assert.deepEqual(await ticks(messages, 3), [1, 2, 3]);

    await cut();
    await until("reconnecting", () => client.status === "reconnecting");
    // Published while the client is away: it must get them, once, in order.
    const missed = [4, 5, 6];
    let position;
    for (const n of missed) {
      position = await broadcast.publish("ticks", tick(n));
    }
    restore();
    await until("back", () => resumes.length === 2);
    await until("rejoined", () => broadcast.members("ticks").length === 1);
    for (const n of [7, 8]) await broadcast.publish("ticks", tick(n));
    assert.deepEqual(await ticks(messages, 5), [4, 5, 6, 7, 8]);
    // Nothing more (no duplicate at the seam): the next one is the next.
    await broadcast.publish("ticks", tick(9));
    assert.deepEqual(await ticks(messages, 1), [9]);

    assert.deepEqual(resumes, [
      undefined,
      { ticks: { epoch: position!.epoch, offset: 3 } },
    ]);
    assert.deepEqual(statuses.slice(0, 2), ["open", "reconnecting"]);
    assert.equal(statuses.at(-1), "open");
  } finally {
    await client.close();
  }
}

Deno.test("Typed client: after the TCP connection is cut (no close frame), it reconnects and receives exactly what was published meanwhile, then live messages", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  const { app, resumes } = feedApp(broadcast);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  const forwarder = new Forwarder(server.addr.port);
  try {
    await resumeAfterCut(
      `ws://127.0.0.1:${forwarder.port}/feed`,
      globalThis.WebSocket,
      async () => {
        forwarder.refusing = true; // the client's next dials fail too
        await forwarder.cut();
      },
      () => forwarder.refusing = false,
      broadcast,
      resumes,
    );
  } finally {
    await app.shutdown({ timeoutMs: 2000 });
    await forwarder.close();
    await server.shutdown();
    await broadcast.close();
  }
});

Deno.test("Typed client: over TestClient.WebSocket, it resumes after the server drops the connection", async () => {
  const broadcast = new Broadcast(new MemoryBackend());
  const { app, resumes, sockets, gate } = feedApp(broadcast);
  const testClient = new TestClient(app);
  try {
    await resumeAfterCut(
      "ws://testserver/feed",
      testClient.WebSocket,
      async () => {
        gate.refusing = true;
        await sockets[0].close(1012, "restarting");
      },
      () => gate.refusing = false,
      broadcast,
      resumes,
    );
  } finally {
    await app.shutdown({ timeoutMs: 2000 });
    await broadcast.close();
  }
});
