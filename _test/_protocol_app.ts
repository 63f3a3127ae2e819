// An app with protocol routes, for the docs tests. The protocol server lands
// with typed protocols; until then the handler speaks the wire format by hand
// (`{"type", "data"}`, requests with an `"id"`), echoing `say` as `said`.
import { z } from "zod";
import * as v from "valibot";
import {
  apiKeyCookie,
  apiKeyHeader,
  apiKeyQuery,
  App,
  bearerFromSubprotocol,
  Depends,
  Header,
  httpBearer,
  int,
  Path,
  Query,
  type StandardSchemaV1,
  WebSocketDisconnect,
} from "../mod.ts";

/** The chat protocol of the API contract, as `defineProtocol()` returns it. */
export const chat = Object.freeze({
  receives: Object.freeze({
    say: z.object({ text: z.string().min(1).max(500) }),
    typing: z.object({}),
  }),
  sends: Object.freeze({
    said: z.object({ from: z.string(), text: z.string() }),
  }),
  requests: Object.freeze({
    history: Object.freeze({
      input: z.object({ limit: z.number().int().min(1).max(100) }),
      output: z.array(z.string()),
    }),
  }),
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

const ticker = Object.freeze({
  receives: Object.freeze({
    subscribe: v.object({ symbol: v.pipe(v.string(), v.maxLength(8)) }),
    note: opaque,
  }),
  sends: Object.freeze({
    tick: v.object({ symbol: v.string(), price: v.number() }),
  }),
  requests: Object.freeze({}),
});

type Frame = { type?: unknown; id?: unknown; data?: unknown };

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
    while (true) {
      let frame: Frame;
      try {
        frame = await ws.receiveJson<Frame>();
      } catch (error) {
        if (error instanceof WebSocketDisconnect) return;
        throw error;
      }
      if (frame.type === "say") {
        const parsed = chat.receives.say.safeParse(frame.data);
        if (!parsed.success) {
          await ws.sendJson({
            type: "error",
            error: { code: "invalid", message: "Invalid say" },
          });
          continue;
        }
        lines.push(parsed.data.text);
        await ws.sendJson({
          type: "said",
          data: { from: room, text: parsed.data.text },
        });
      } else if (frame.type === "history") {
        const parsed = chat.requests.history.input.safeParse(frame.data);
        await ws.sendJson(
          parsed.success
            ? {
              type: "history",
              id: frame.id,
              data: lines.slice(-parsed.data.limit),
            }
            : {
              type: "error",
              id: frame.id,
              error: { code: "invalid", message: "Invalid history" },
            },
        );
      } else if (frame.type !== "typing") {
        await ws.sendJson({
          type: "error",
          error: { code: "unknown_type", message: "Unknown message type" },
        });
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
