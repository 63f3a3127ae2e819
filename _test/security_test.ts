// security.ts: the credential helpers.
import assert from "node:assert/strict";
import {
  apiKeyCookie,
  apiKeyHeader,
  apiKeyQuery,
  App,
  bearerFromSubprotocol,
  httpBearer,
} from "../mod.ts";
import { TestClient, WebSocketDenialResponse } from "../testing.ts";

async function get(app: App, path: string, init?: RequestInit) {
  const response = await new TestClient(app).get(path, init);
  return { status: response.status, body: await response.json() };
}

Deno.test("Credential helpers: API keys, bearer header, bearer subprotocol; optional forms", async () => {
  const app = new App();
  app.get("/keys", {
    params: {
      q: apiKeyQuery("key", { autoError: false }),
      c: apiKeyCookie("key", { autoError: false }),
      h: apiKeyHeader("x-key", { autoError: false }),
      b: httpBearer({ autoError: false }),
    },
  }, (_req, args) => args);
  assert.deepEqual((await get(app, "/keys")).body, {});
  assert.deepEqual(
    (await get(app, "/keys?key=q1", {
      headers: { cookie: "key=c1", "x-key": "h1", authorization: "bearer tok" },
    })).body,
    { q: "q1", c: "c1", h: "h1", b: { scheme: "Bearer", credentials: "tok" } },
  );
  app.get("/required", { params: { k: apiKeyHeader("x-key") } }, () => "");
  assert.deepEqual(await get(app, "/required"), {
    status: 403,
    body: { detail: "Not authenticated" },
  });

  app.websocket("/ws", {
    params: { token: bearerFromSubprotocol({ protocol: "access_token" }) },
  }, async (ws, { token }) => {
    await ws.accept();
    await ws.sendText(token);
  });
  const client = new TestClient(app);
  await using ws = await client.websocketConnect("/ws", {
    subprotocols: ["chat", "access_token", "t.0-k_en"],
  });
  assert.equal(
    ws.acceptedSubprotocol,
    "access_token",
    "the marker, never the token",
  );
  assert.equal(await ws.receiveText(), "t.0-k_en");
  const denied = await client.websocketConnect("/ws", {
    subprotocols: ["access_token"],
  }).catch((e) => e);
  assert.ok(denied instanceof WebSocketDenialResponse);
  assert.equal(denied.response.status, 403);
  await denied.response.body?.cancel();
});
