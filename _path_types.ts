// Path parameters typed from a route's template string, at the type level
// only: `"/ws/{client_id:int}"` gives `{ client_id: number }`, as Hono types
// params from its route strings. The converters are those of
// _converters.ts: int and float give numbers; str, path, uuid and a bare
// `{name}` give strings. A template that is not a literal (a `string`, or a
// `URLPattern`) keeps `Record<string, unknown>`. (route.ts builds the
// handler's WebSocket type on it: WebSocketOf.)

/**
 * The path parameters of a template, by name, with their converted types:
 * `{id:int}` and `{x:float}` are numbers; `{id:uuid}`, `{p:path}`, `{s:str}`
 * and `{name}` are strings. A template that is not a literal is
 * `Record<string, unknown>`.
 *
 * @typeParam T The route template.
 * @typeParam Found Used by the type's own recursion: leave it out.
 *
 * @example Typing a helper from a template
 * ```ts
 * import type { PathParamsOf } from "@wsapi/wsapi";
 * import assert from "node:assert/strict";
 *
 * const params: PathParamsOf<"/rooms/{room}/ws/{user:int}"> = { room: "lobby", user: 7 };
 * assert.equal(params.user + 1, 8);
 * ```
 */
export type PathParamsOf<T extends string, Found extends string = never> =
  string extends T ? Record<string, unknown>
    // One `{...}` at a time, collected in Found (a single type, no helper:
    // the documentation lint wants every type a public one names public).
    : T extends `${string}{${infer Inner}}${infer Rest}`
      ? PathParamsOf<Rest, Found | Inner>
    : {
      readonly [P in Found as P extends `${infer Name}:${string}` ? Name : P]:
        P extends `${string}:${"int" | "float"}` ? number : string;
    };
