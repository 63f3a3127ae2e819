// The names of the internals that sibling modules call on the public
// classes. A method keyed by one of these symbols is reachable only by code
// that imports the symbol, so every use is an import edge anyone can follow
// (the way Deno's own ext/ modules share internals), and nothing is filled
// in at load time. The methods carry `@ignore`: they are not API.

// HTTPConnection (connection.ts), for WebSocket.
/** Keeps the URL as text until first read: an idle WebSocket holds no URL. */
export const DEFER_URL: unique symbol = Symbol("wsapi.deferUrl");
/** Packs the headers (see _headers.ts) once the upgrade has read them. */
export const PACK_HEADERS: unique symbol = Symbol("wsapi.packHeaders");

// WebSocket (websocket.ts), for the app, broadcast and the credential helpers.
/** Ends an accepted connection as if it had dropped (see WebSocket). */
export const END: unique symbol = Symbol("wsapi.end");
/** Sends at once if nothing has to wait; returns whether it did. */
export const SEND_NOW: unique symbol = Symbol("wsapi.sendNow");
/** Whether the connection is over on both sides (`closed` has settled). */
export const SETTLED: unique symbol = Symbol("wsapi.settled");
/** While accept() has upgraded and the socket is opening: when it opens. */
export const OPENING: unique symbol = Symbol("wsapi.opening");
/** Whether accept() has upgraded the connection. */
export const ACCEPTED: unique symbol = Symbol("wsapi.accepted");
/**
 * The session observers of an accepted connection, given by the app and
 * read by broadcast (which reports its deliveries' lag to them).
 */
export const OBSERVERS: unique symbol = Symbol("wsapi.observers");
/** Whether the route has a message protocol (broadcast adds its envelope). */
export const ON_PROTOCOL: unique symbol = Symbol("wsapi.onProtocol");
/** Makes `accept()` without a subprotocol choose an offered one. */
export const PREFER_SUBPROTOCOL: unique symbol = Symbol(
  "wsapi.preferSubprotocol",
);

// WebSocket, for the message iterators of _receive.ts.
/** The next queued item now, or undefined once the receiver waits for it. */
export const TAKE: unique symbol = Symbol("wsapi.take");
/** An item's data, the disconnect and the message type checked. */
export const DATA: unique symbol = Symbol("wsapi.data");

// Param and Dependency (params.ts), for the declaration checks of
// _declarations.ts, which params.ts itself imports.
/** Marks a declaration: `Query()`, `Path()`, …, `Depends()`, `Security()`. */
export const DECLARATION: unique symbol = Symbol("wsapi.declaration");

// WebSocketRoute and HttpRoute (route.ts), for the router.
/** A route's compiled path, for matching and reversing. */
export const COMPILED: unique symbol = Symbol("wsapi.compiled");
/** The path a route was created from, to re-compile it under a prefix. */
export const SOURCE: unique symbol = Symbol("wsapi.source");

// App (app.ts), for the test client.
/** Serves one request in a given context (see _dispatch.ts). */
export const DISPATCH: unique symbol = Symbol("wsapi.dispatch");
