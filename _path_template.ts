// FastAPI path templates ("/items/{id:int}") compiled once, at registration,
// to a URLPattern, plus the reverse (building a path from parameters).
// URLPattern is slow in Deno (µs per exec), so the router only calls it on
// routes that can match; a template without parameters is a plain string.
import { CONVERTERS, type PathConverter } from "./_converters.ts";

/** One parameter of a template. */
export interface TemplateParam {
  readonly name: string;
  readonly converter: PathConverter;
}

/** A compiled path template. */
export interface CompiledPath {
  /** The template as written (or the URLPattern's pathname). */
  readonly template: string;
  /** The path itself, when the template has no parameters. */
  readonly staticPath: string | null;
  /** The compiled pattern, when it has parameters. */
  readonly pattern: URLPattern | null;
  /**
   * The literal text every matching path starts with: checked before the
   * pattern runs, so most non-matching routes cost one string comparison.
   */
  readonly prefix: string;
  /** Its parameters, in order. */
  readonly params: readonly TemplateParam[];
  /** Converted parameters when `pathname` matches, else `null`. */
  match(pathname: string): Record<string, unknown> | null;
  /** Builds the path from parameters (exactly the template's names). */
  format(params: Record<string, unknown>): string;
}

// URLPattern's pattern syntax gives these characters a meaning.
// What URLPattern's syntax gives meaning to, escaped in literal text.
const PATTERN_SYNTAX = /[:*(){}?+\\]/g;

/** `text` as a literal in a URLPattern pathname. */
export function escapePattern(text: string): string {
  return text.replace(PATTERN_SYNTAX, "\\$&");
}
const PARAM_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<
  string,
  unknown
>;

/**
 * Compiles a FastAPI template. Throws a `TypeError` naming the problem for
 * bad braces, an unknown converter, an invalid or duplicate parameter name,
 * or a path that does not start with "/".
 */
export function compileTemplate(template: string): CompiledPath {
  if (typeof template !== "string" || !template.startsWith("/")) {
    throw new TypeError(
      `Cannot register route: path ${
        JSON.stringify(template)
      } must start with "/"`,
    );
  }
  const params: TemplateParam[] = [];
  const parts: ({ literal: string } | TemplateParam)[] = [];
  let source = "";
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf("{", at);
    const close = template.indexOf("}", at);
    if (close !== -1 && (open === -1 || close < open)) {
      throw new TypeError(
        `Cannot register route "${template}": unmatched "}" at position ${close}`,
      );
    }
    if (open === -1) {
      parts.push({ literal: template.slice(at) });
      source += escapePattern(template.slice(at));
      break;
    }
    if (close === -1) {
      throw new TypeError(
        `Cannot register route "${template}": unmatched "{" at position ${open}`,
      );
    }
    const literal = template.slice(at, open);
    parts.push({ literal });
    source += escapePattern(literal);
    const body = template.slice(open + 1, close);
    if (body.includes("{")) {
      throw new TypeError(
        `Cannot register route "${template}": nested "{" at position ${
          open + 1 + body.indexOf("{")
        }`,
      );
    }
    const colon = body.indexOf(":");
    const name = colon === -1 ? body : body.slice(0, colon);
    const kind = colon === -1 ? "str" : body.slice(colon + 1);
    if (!PARAM_NAME.test(name)) {
      throw new TypeError(
        `Cannot register route "${template}": parameter name ${
          JSON.stringify(name)
        } is not an identifier: use letters, digits and "_"`,
      );
    }
    const converter = Object.hasOwn(CONVERTERS, kind)
      ? CONVERTERS[kind]
      : undefined;
    if (converter === undefined) {
      throw new TypeError(
        `Cannot register route "${template}": unknown path converter "${kind}" for "${name}": use one of ${
          Object.keys(CONVERTERS).join(", ")
        }`,
      );
    }
    if (params.some((p) => p.name === name)) {
      throw new TypeError(
        `Cannot register route "${template}": duplicate parameter name "${name}"`,
      );
    }
    const param = { name, converter };
    params.push(param);
    parts.push(param);
    source += `:${name}(${converter.regex})`;
    at = close + 1;
  }
  if (params.length === 0) {
    return {
      template,
      staticPath: template,
      pattern: null,
      prefix: template,
      params,
      match: (pathname) => pathname === template ? EMPTY : null,
      format: () => template,
    };
  }
  const pattern = new URLPattern({ pathname: source });
  const prefix = (parts[0] as { literal: string }).literal;
  return {
    template,
    staticPath: null,
    pattern,
    prefix,
    params,
    match(pathname) {
      if (!pathname.startsWith(prefix)) return null;
      const groups = pattern.exec({ pathname })?.pathname.groups;
      if (groups === undefined) return null;
      return convertGroups(params, groups);
    },
    format(values) {
      let path = "";
      for (const part of parts) {
        if ("literal" in part) path += part.literal;
        else path += part.converter.format(values[part.name], part.name);
      }
      return path;
    },
  };
}

function convertGroups(
  params: readonly TemplateParam[],
  groups: Record<string, string | undefined>,
): Record<string, unknown> | null {
  const values: Record<string, unknown> = {};
  for (const { name, converter } of params) {
    let text = groups[name] ?? "";
    // URLPattern does not percent-decode what it captures.
    if (text.includes("%")) {
      try {
        text = decodeURIComponent(text);
      } catch {
        return null; // a malformed escape cannot match
      }
    }
    const value = converter.convert(text);
    if (value === undefined) return null;
    values[name] = value;
  }
  return values;
}

/** Wraps a raw URLPattern: its named groups become string parameters. */
export function fromURLPattern(pattern: URLPattern): CompiledPath {
  return {
    template: pattern.pathname,
    staticPath: null,
    pattern,
    prefix: "",
    params: [],
    match(pathname) {
      const groups = pattern.exec({ pathname })?.pathname.groups;
      if (groups === undefined) return null;
      const values: Record<string, unknown> = {};
      for (const [name, raw] of Object.entries(groups)) {
        if (raw === undefined) continue;
        try {
          values[name] = decodeURIComponent(raw);
        } catch {
          return null;
        }
      }
      return values;
    },
    format() {
      throw new TypeError(
        `Cannot build path: route pattern ${pattern.pathname} is a raw URLPattern, which cannot be reversed: use a path template`,
      );
    },
  };
}
