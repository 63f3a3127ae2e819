// The converters of path parameters ("/items/{id:int}"): how a value is
// matched inside a path, converted, and written back by urlPathFor(); and
// the UUID form, shared with params.ts's `uuid` converter for parameters.

/** How a path parameter is matched, converted and written back. */
export interface PathConverter {
  /** The regular expression for one value (no capturing groups). */
  readonly regex: string;
  /**
   * Turns the decoded text into the value handlers see; `undefined` when
   * the text matched the regex but has no such value (the path does not
   * match).
   */
  convert(text: string): unknown;
  /** Turns a value back into path text, or throws a `TypeError`. */
  format(value: unknown, name: string): string;
}

function formatError(name: string, value: unknown, expected: string): never {
  throw new TypeError(
    `Cannot build path: parameter "${name}" is ${
      JSON.stringify(value) ?? String(value)
    }, expected ${expected}`,
  );
}

// A UUID, hyphens optional (as Python's uuid.UUID reads it), any case.
const UUID_SOURCE =
  "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}";

/** Whether `text` is a UUID in a form `canonicalUuid` reads. */
export const UUID_TEXT: RegExp = new RegExp(`^${UUID_SOURCE}$`);

/** A UUID's canonical form: lower case, hyphenated 8-4-4-4-12. */
export function canonicalUuid(text: string): string {
  const hex = text.replaceAll("-", "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${
    hex.slice(16, 20)
  }-${hex.slice(20)}`;
}

/** The path converters of FastAPI templates, by name. */
export const CONVERTERS: Readonly<Record<string, PathConverter>> = {
  str: {
    regex: "[^/]+",
    convert: (text) => text,
    format(value, name) {
      const text = String(value);
      // URLs drop "." and ".." segments (even percent-encoded): such a value
      // could never come back in a request path.
      if (text === "" || text.includes("/") || text === "." || text === "..") {
        formatError(
          name,
          value,
          "a non-empty string without '/', other than '.' or '..'",
        );
      }
      return encodeURIComponent(text);
    },
  },
  // Starlette's path convertors: `int` and `float` match unsigned digits
  // only (a path segment, not a number's text); what matched converts with
  // Number(). Query, header and cookie values are parsed by params.ts's
  // converters, which accept a sign as FastAPI does.
  int: {
    regex: "[0-9]+",
    // Beyond 2^53 a number is no longer the integer written: 9007199254740993
    // would reach the handler as ...992, another id. Refused, as Query(int)
    // and urlPathFor() refuse it.
    convert(text) {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : undefined;
    },
    format(value, name) {
      const n = typeof value === "bigint" ? value : Number(value);
      if (
        typeof n === "bigint" ? n < 0n : !Number.isSafeInteger(n) || n < 0
      ) {
        formatError(name, value, "a non-negative integer");
      }
      return String(n);
    },
  },
  float: {
    regex: "[0-9]+(?:\\.[0-9]+)?",
    // Digits past what a double holds round, as floats do; more than 308 of
    // them overflow to Infinity, which is refused (no match), as Query(float)
    // and urlPathFor() refuse it.
    convert(text) {
      const n = Number(text);
      return Number.isFinite(n) ? n : undefined;
    },
    format(value, name) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0 || typeof value === "boolean") {
        formatError(name, value, "a non-negative finite number");
      }
      const text = String(n);
      if (text.includes("e")) {
        formatError(name, value, "a number without an exponent");
      }
      return text;
    },
  },
  uuid: {
    regex: UUID_SOURCE,
    convert: canonicalUuid,
    format(value, name) {
      const text = String(value);
      if (!UUID_TEXT.test(text)) formatError(name, value, "a UUID");
      return text.toLowerCase();
    },
  },
  path: {
    regex: ".*",
    convert: (text) => text,
    format(value, name) {
      const segments = String(value).split("/");
      if (segments.some((segment) => segment === "." || segment === "..")) {
        formatError(name, value, "a path without '.' or '..' segments");
      }
      return segments.map(encodeURIComponent).join("/");
    },
  },
};
