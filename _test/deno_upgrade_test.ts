// The upgrade function the App uses under Deno.serve (see _deno.ts): what it
// spares Deno, and that a request signal somebody holds still aborts.
import assert from "node:assert/strict";
import { denoUpgrade } from "../_deno.ts";
import type { UpgradeFunction } from "../upgrade.ts";

type Fields = Record<symbol, unknown>;

// The request's private field behind request.signal, as Deno 2.9.6 names it.
function signalCacheOf(request: Request): unknown {
  const key = Object.getOwnPropertySymbols(request)
    .find((symbol) => symbol.description === "signalCache");
  assert.ok(
    key !== undefined,
    "this Deno has no signalCache field on a served request: denoUpgrade() spares it nothing any more",
  );
  return (request as unknown as Fields)[key];
}

// Serves one upgrade through `upgrade`, calling `inspect` with the request
// right after it; resolves once the client saw the socket close.
async function upgradeOnce(
  upgrade: UpgradeFunction,
  inspect: (request: Request) => void,
  before?: (request: Request) => void,
): Promise<void> {
  let failure: unknown = null;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      before?.(request);
      const { socket, response } = upgrade(request, {});
      try {
        inspect(request);
      } catch (error) {
        failure = error;
      }
      socket.addEventListener("open", {
        handleEvent: () => socket.close(1000),
      });
      return response;
    },
  );
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  await new Promise((resolve) => client.onclose = resolve);
  await server.shutdown();
  if (failure !== null) throw failure;
}

Deno.test("Deno.upgradeWebSocket leaves the request's signal marked aborted, which costs a second close two DOMExceptions", async () => {
  // The behaviour denoUpgrade() works around: if Deno changes it, this
  // says so, and the workaround can go.
  await upgradeOnce(Deno.upgradeWebSocket, (request) => {
    assert.equal(signalCacheOf(request), false);
  });
});

Deno.test("denoUpgrade() sets a signal nobody made back to never made", async () => {
  await upgradeOnce(denoUpgrade(), (request) => {
    assert.equal(signalCacheOf(request), undefined);
  });
});

Deno.test("denoUpgrade(): a signal read before the upgrade is aborted as Deno aborts it", async () => {
  let signal: AbortSignal | undefined;
  await upgradeOnce(
    denoUpgrade(),
    (request) => {
      assert.ok(signalCacheOf(request) instanceof AbortSignal);
      assert.equal(signal!.aborted, true);
    },
    (request) => {
      signal = request.signal;
      assert.equal(signal.aborted, false);
    },
  );
  assert.equal((signal!.reason as DOMException).name, "AbortError");
});
