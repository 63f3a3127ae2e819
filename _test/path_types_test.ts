// Compile-time tests of path parameters typed from the template string:
// `deno test` type-checks this file, and every `@ts-expect-error` must be
// needed. The runtime test proves the types match what handlers receive.
import assert from "node:assert/strict";
import { z } from "zod";
import {
  App,
  defineProtocol,
  Path,
  Query,
  Router,
  type WebSocket,
} from "../mod.ts";
import { TestClient } from "../testing.ts";
import type { PathParamsOf } from "../_path_types.ts";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectExact<A, B>(_proof: Equals<A, B>): void {}

expectExact<
  PathParamsOf<"/a/{id:int}/{x:float}/{key:uuid}/{rest:path}/{s:str}/{name}">,
  {
    readonly id: number;
    readonly x: number;
    readonly key: string;
    readonly rest: string;
    readonly s: string;
    readonly name: string;
  }
>(true);
expectExact<keyof PathParamsOf<"/static">, never>(true);
expectExact<PathParamsOf<string>, Record<string, unknown>>(true);

const app = new App();

app.websocket("/ws/{client_id:int}", async (ws) => {
  const id: number = ws.pathParams.client_id;
  // @ts-expect-error: an int parameter is a number, not a string
  const wrong: string = ws.pathParams.client_id;
  // The connection is still a WebSocket (for Broadcast.join and the like).
  const plain: WebSocket = ws;
  await ws.accept();
  void [id, wrong, plain];
});

app.websocket("/rooms/{room}/{at:float}", {
  params: { q: Query({ optional: true }) },
}, (ws, { q }) => {
  const room: string = ws.pathParams.room;
  const at: number = ws.pathParams.at;
  // @ts-expect-error: a bare {room} is a string
  const asNumber: number = ws.pathParams.room;
  // @ts-expect-error: q is string | undefined
  const required: string = q;
  void [room, at, asNumber, required];
});

app.websocket("/files/{p:path}/{id:uuid}", (ws) => {
  const p: string = ws.pathParams.p;
  // @ts-expect-error: a uuid is a string
  const id: number = ws.pathParams.id;
  void [p, id];
});

// A template that is not a literal, or a URLPattern: untyped, as before.
const dynamic: string = "/d/{x:int}";
app.websocket(dynamic, (ws) => {
  const x: unknown = ws.pathParams.x;
  // @ts-expect-error: unknown until checked
  const n: number = ws.pathParams.x;
  void [x, n];
});
app.websocket(new URLPattern({ pathname: "/raw/:name" }), (ws) => {
  const name: unknown = ws.pathParams.name;
  void name;
});

// Routers (and so include()) type their routes the same way.
new Router().websocket("/r/{n:int}", (ws) => {
  const n: number = ws.pathParams.n;
  void n;
});

// With a protocol too: the path params and the messages are both typed.
const echo = defineProtocol({
  receives: { say: z.object({ text: z.string() }) },
  sends: {
    said: z.object({ room: z.string(), n: z.number(), text: z.string() }),
  },
});
app.websocket("/echo/{room}/{n:int}", { protocol: echo }, async (ws) => {
  await ws.accept();
  const n: number = ws.pathParams.n;
  // @ts-expect-error: a bare {room} is a string
  const room: number = ws.pathParams.room;
  for await (const m of ws.messages()) {
    await ws.emit("said", { room: ws.pathParams.room, n, text: m.data.text });
    // @ts-expect-error: "sad" is not in the protocol's sends
    await ws.emit("sad", {}).catch(() => {});
  }
  void room;
});

Deno.test("Path params typed from the template are what the handler receives", async () => {
  const app = new App();
  app.websocket("/t/{id:int}/{x:float}/{name}/{rest:path}", {
    params: { id: Path() },
  }, async (ws, { id }) => {
    await ws.accept();
    const { id: n, x, name, rest } = ws.pathParams;
    // Path() reads the parameter as a string unless given a converter.
    const raw: string = id;
    await ws.sendJson({
      sum: n + x,
      name,
      rest,
      raw,
      types: [typeof n, typeof x],
    });
  });
  await using ws = await new TestClient(app).websocketConnect(
    "/t/40/1.5/alice/a/b.txt",
  );
  assert.deepEqual(await ws.receiveJson(), {
    sum: 41.5,
    name: "alice",
    rest: "a/b.txt",
    raw: "40",
    types: ["number", "number"],
  });
});

Deno.test("A protocol route types both its path params and its messages", async () => {
  const app = new App();
  app.websocket("/echo/{room}/{n:int}", { protocol: echo }, async (ws) => {
    await ws.accept();
    for await (const m of ws.messages()) {
      await ws.emit("said", {
        room: ws.pathParams.room,
        n: ws.pathParams.n + 1,
        text: m.data.text,
      });
    }
  });
  await using ws = await new TestClient(app).websocketConnect("/echo/a/41");
  await ws.sendJson({ type: "say", data: { text: "hi" } });
  assert.deepEqual(await ws.receiveJson(), {
    type: "said",
    data: { room: "a", n: 42, text: "hi" },
  });
});
