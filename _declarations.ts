// The shape check of a `params` object, shared by Depends() (when a
// dependency is declared) and route registration (_dependencies.ts). It
// knows a declaration by the DECLARATION mark that Param and Dependency carry,
// so that params.ts can use it without an import cycle.
import { DECLARATION } from "./_symbols.ts";

/** Throws unless `params` is an object whose every value is a declaration. */
export function checkParamsShape(params: unknown, where: string): void {
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new TypeError(
      `Cannot ${where}: params must be an object of declarations`,
    );
  }
  for (const [key, value] of Object.entries(params)) {
    if (
      typeof value !== "object" || value === null || !(DECLARATION in value)
    ) {
      throw new TypeError(
        `Cannot ${where}: params.${key} is not a declaration: use Query(), Path(), Header(), Cookie(), Depends() or Security()`,
      );
    }
  }
}
