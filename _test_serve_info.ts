// How the test client reaches a wsapi App inside another framework's app
// (Hono, oak, a hand-written router) that delegates to `app.fetch`: it calls
// the outer app's `fetch(request, info)` with this as `info`, and the App
// recognises it when the request is handed on with the info it came with
// (Hono: `wsapi.fetch(c.req.raw, c.env)`). The App then serves the request
// through the test client's in-memory upgrade, as it would when called by
// the test client directly.
import type { DispatchContext } from "./_dispatch.ts";

/** The `info` argument the test client passes to an app-like `fetch`. */
export class TestServeInfo implements Deno.ServeHandlerInfo {
  readonly remoteAddr: Deno.NetAddr;
  readonly completed: Promise<void> = Promise.resolve();
  #context: DispatchContext;
  #used = false;

  constructor(context: DispatchContext) {
    const client = context.client ?? { hostname: "testclient", port: 50000 };
    this.remoteAddr = { transport: "tcp", ...client };
    // Mounted handlers of that App get this info too, so an App mounted
    // inside it is reached the same way.
    this.#context = { ...context, info: this };
  }

  /** Whether a wsapi App has served a request with this info. */
  get used(): boolean {
    return this.#used;
  }

  /** The test client's context, for the App that serves the request. */
  take(): DispatchContext {
    this.#used = true;
    return this.#context;
  }
}
