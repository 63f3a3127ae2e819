// An app with protocol routes, for the docs tests: the room echoes `say` as
// `said` and answers `history` requests, through the protocol server.
import { z } from "zod";
import * as v from "valibot";
import {
  apiKeyCookie,
  apiKeyHeader,
  apiKeyQuery,
  App,
  bearerFromSubprotocol,
  defineProtocol,
  Depends,
  Header,
  httpBearer,
  int,
  Path,
  Query,
  type StandardSchemaV1,
} from "../mod.ts";

/** The chat protocol of the API contract. */
export const chat = defineProtocol({
  receives: {
    say: z.object({ text: z.string().min(1).max(500) }),
    typing: z.object({}),
  },
  sends: {
    said: z.object({ from: z.string(), text: z.string() }),
  },
  requests: {
    history: {
      input: z.object({ limit: z.number().int().min(1).max(100) }),
      output: z.array(z.string()),
    },
  },
});

/** A validator with no JSON Schema output: the document must say so. */
const opaque: StandardSchemaV1<unknown, string> = {
  "~standard": {
    version: 1,
    vendor: "handmade",
    validate: (value) =>
      typeof value === "string"
        ? { value }
        : { issues: [{ message: "Expected a string" }] },
  },
};

const ticker = defineProtocol({
  receives: {
    subscribe: v.object({ symbol: v.pipe(v.string(), v.maxLength(8)) }),
    note: opaque,
  },
  sends: {
    tick: v.object({ symbol: v.string(), price: v.number() }),
  },
  requests: {},
});

/** Builds the app; `ticker` uses valibot, which needs a converter. */
export function protocolApp(): App {
  const app = new App();
  const lines: string[] = [];
  app.websocket("/rooms/{room}", {
    name: "room",
    summary: "A chat room",
    description: "Say something; everyone in the room hears it.",
    tags: ["chat"],
    params: {
      room: Path(),
      token: apiKeyQuery("token"),
      nick: Query({ optional: true }),
    },
    protocol: chat,
  }, async (ws, { room }) => {
    await ws.accept();
    for await (const m of ws.messages()) {
      if (m.type === "say") {
        lines.push(m.data.text);
        await ws.emit("said", { from: room, text: m.data.text });
      } else if (m.type === "history") {
        await m.reply(lines.slice(-m.data.limit));
      }
    }
  });
  const session = Depends(
    { session: apiKeyCookie("session"), agent: Header({ name: "x-agent" }) },
    ({ session }) => session,
  );
  app.websocket("/ticker/{market:int}", {
    name: "ticker",
    params: {
      market: Path(int),
      session,
      key: apiKeyHeader("x-api-key"),
      depth: Query(int, { default: 10 }),
    },
    protocol: ticker,
  }, async (ws) => await ws.accept());
  app.websocket("/admin", {
    name: "admin",
    params: { auth: httpBearer() },
  }, async (ws) => await ws.accept());
  app.websocket("/browser", {
    name: "browser",
    params: { token: bearerFromSubprotocol() },
  }, async (ws) => await ws.accept());
  app.websocket("/hidden", { includeInSchema: false }, (ws) => ws.accept());
  app.websocket(
    new URLPattern({ pathname: "/raw/:id" }),
    { name: "raw" },
    async (ws) => {
      await ws.accept();
      for await (const text of ws.iterText()) {
        await ws.sendText(`echo ${ws.pathParams.id}: ${text}`);
      }
    },
  );
  app.get("/", () => "home");
  return app;
}
