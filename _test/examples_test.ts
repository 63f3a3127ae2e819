// The examples, driven the way FastAPI's tutorial tests drive theirs.
import assert from "node:assert/strict";
import { WebSocketDisconnect } from "../mod.ts";
import { TestClient } from "../testing.ts";
import echo from "../examples/echo/main.ts";
import chat from "../examples/chat/main.ts";
import { Member } from "./_chat_member.ts";
import dependencies from "../examples/dependencies/main.ts";
import resume, {
  broadcast as resumeBroadcast,
} from "../examples/resume/main.ts";

Deno.test("examples/echo serves the page and echoes messages", async () => {
  const client = new TestClient(echo);
  const page = await client.get("/");
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(
    await page.text(),
    /<form action="" onsubmit="sendMessage\(event\)">/,
  );
  await using ws = await client.websocketConnect("/ws");
  await ws.sendText("Hello WebSocket");
  assert.equal(await ws.receiveText(), "Message text was: Hello WebSocket");
  await ws.sendText("again");
  assert.equal(await ws.receiveText(), "Message text was: again");
});

Deno.test("examples/chat: names, join and leave notices, each message once", async () => {
  const client = new TestClient(chat);
  const page = await (await client.get("/")).text();
  assert.match(page, /<script type="module" src="\/chat.js">/);
  const script = await client.get("/chat.js");
  assert.equal(
    script.headers.get("content-type"),
    "text/javascript; charset=utf-8",
  );
  assert.ok((await script.text()).length > 1000);
  const alice = await Member.join("ws://testserver", "Alice", client.WebSocket);
  await alice.expect("Alice joined");
  const bob = await Member.join("ws://testserver", "Bob", client.WebSocket);
  await alice.expect("Bob joined");
  await alice.say("Hello everyone");
  await bob.expect("Alice: Hello everyone");
  await alice.expect("Alice: Hello everyone");
  await bob.close();
  await alice.expect("Bob left");
  assert.deepEqual(alice.lines, [
    "Alice joined",
    "Bob joined",
    "Alice: Hello everyone",
    "Bob left",
  ]);
  await alice.close();
  const bad = await client.websocketConnect("/ws?name=%3Cscript%3E").catch((
    e,
  ) => e);
  assert.ok(bad instanceof WebSocketDisconnect);
  assert.equal(bad.code, 1008);
});

Deno.test("examples/chat: the committed page bundle is what deno task bundle makes of page.ts", async () => {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const bundle = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--platform=browser",
        "--minify",
        "-o",
        out,
        "examples/chat/page.ts",
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
    // (Not assert.equal: a diff of two minified bundles helps nobody.)
    assert.ok(
      await Deno.readTextFile("examples/chat/static/chat.js") ===
        await Deno.readTextFile(out),
      "examples/chat/static/chat.js is stale: run deno task bundle",
    );
  } finally {
    await Deno.remove(out);
  }
});

Deno.test("examples/dependencies: a session cookie", async () => {
  const client = new TestClient(dependencies);
  assert.match(await (await client.get("/")).text(), /Item ID/);
  await using ws = await client.websocketConnect("/items/foo/ws", {
    cookies: { session: "fakesession" },
  });
  await ws.sendText("Hello WebSocket");
  assert.equal(
    await ws.receiveText(),
    "Session cookie or query token value is: fakesession",
  );
  assert.equal(
    await ws.receiveText(),
    "Message text was: Hello WebSocket, for item ID: foo",
  );
});

Deno.test("examples/dependencies: a token query and q", async () => {
  const client = new TestClient(dependencies);
  await using ws = await client.websocketConnect(
    "/items/2/ws?q=3&token=some-token",
  );
  await ws.sendText("Hello WebSocket");
  assert.equal(
    await ws.receiveText(),
    "Session cookie or query token value is: some-token",
  );
  assert.equal(await ws.receiveText(), "Query parameter q is: 3");
  assert.equal(
    await ws.receiveText(),
    "Message text was: Hello WebSocket, for item ID: 2",
  );
});

Deno.test("examples/dependencies: no credentials, or an invalid q, refuse with 1008", async () => {
  const client = new TestClient(dependencies);
  const none = await client.websocketConnect("/items/foo/ws").catch((e) => e);
  assert.ok(none instanceof WebSocketDisconnect);
  assert.equal(none.code, 1008);
  const badQ = await client.websocketConnect("/items/foo/ws?q=bar&token=t")
    .catch((e) => e);
  assert.ok(badQ instanceof WebSocketDisconnect);
  assert.equal(badQ.code, 1008);
  assert.match(badQ.reason, /^query\.q: Input should be a valid integer/);
});

Deno.test("examples/dependencies: the authenticated JSON endpoint", async () => {
  const client = new TestClient(dependencies);
  await using ws = await client.websocketConnect("/notes", {
    subprotocols: ["bearer", "alice-token"],
  });
  assert.equal(ws.acceptedSubprotocol, "bearer");
  assert.deepEqual(await ws.receiveJson(), { type: "welcome", user: "alice" });
  await ws.sendJson({ text: "buy milk" });
  assert.deepEqual(await ws.receiveJson(), {
    type: "saved",
    user: "alice",
    text: "buy milk",
  });
  await ws.sendJson({ text: "" });
  assert.deepEqual(await ws.receiveJson(), {
    type: "error",
    errors: [{
      loc: ["body", "text"],
      msg: "Expected a non-empty string",
      type: "value_error",
      input: { text: "" },
    }],
  });
  const stranger = await client.websocketConnect("/notes", {
    subprotocols: ["bearer", "nobody"],
  }).catch((e) => e);
  assert.equal(stranger.code, 1008);
  assert.equal(stranger.reason, "Unknown token");
});

Deno.test("examples/resume: a client that comes back with ?since gets what it missed, then live; presence per user", async () => {
  const client = new TestClient(resume);
  const first = await client.websocketConnect("/rooms/lobby?user=alice");
  assert.deepEqual(await first.receiveJson(), {
    type: "hello",
    recovered: false,
  });
  await first.sendText("hi");
  const said = await first.receiveJson() as {
    epoch: string;
    offset: number;
    data: unknown;
  };
  assert.deepEqual(said.data, { from: "alice", text: "hi" });
  const tab = await client.websocketConnect("/rooms/lobby?user=alice");
  await tab.receiveJson(); // hello
  const present = await (await client.get("/rooms/lobby/presence")).json();
  assert.deepEqual(present.stats, { clients: 2, keys: 1 });
  await first.close();
  await resumeBroadcast.publish("lobby", "while away 1");
  await resumeBroadcast.publish("lobby", "while away 2");
  const back = await client.websocketConnect(
    `/rooms/lobby?user=alice&since=${said.epoch}:${said.offset}`,
  );
  assert.deepEqual(await back.receiveJson(), {
    type: "hello",
    recovered: true,
  });
  const missed = [await back.receiveJson(), await back.receiveJson()] as {
    offset: number;
    data: unknown;
  }[];
  assert.deepEqual(missed.map((m) => m.data), ["while away 1", "while away 2"]);
  assert.deepEqual(missed.map((m) => m.offset), [
    said.offset + 1,
    said.offset + 2,
  ]);
  await back.sendText("back");
  assert.deepEqual(
    (await back.receiveJson() as { data: unknown }).data,
    { from: "alice", text: "back" },
  );
  await tab.close();
  await back.close();
  // Untracked when they left (one batch later).
  while ((await resumeBroadcast.presence("lobby").stats()).clients > 0) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});
