// Request headers that outlive a WebSocket upgrade and cost an idle
// connection little memory.
//
// Under Deno.serve a request's `Headers` reads each header from the runtime
// on demand, until the upgrade closes the request; from then on they throw.
// They keep working only if something read them all before: that makes Deno
// copy every header into the `Headers` object. Deno keeps each upgraded
// request (and so that copy) for as long as its socket lives, in a form that
// costs about 1.1 KiB for the 6 headers of a minimal client, more for a
// browser's. So the connection reads its headers through a `Headers` object
// of its own, which the request does not hold (see requestHeaders()), and
// once open keeps them packed in one string (packHeaders()).

/**
 * The headers of `request`, in a `Headers` object that the request itself
 * does not hold: a shallow copy of the request makes it, so reading every
 * header (which copies them into the object) leaves the request's own
 * `Headers` as it was. Reading through the request's own object would keep
 * that copy for as long as Deno keeps the request.
 *
 * Any request works: what is read is the same either way. Only if the copy
 * cannot make a `Headers` of its own (a runtime whose `Request` keeps its
 * state elsewhere) are the request's own headers returned.
 */
export function requestHeaders(request: Request): Headers {
  try {
    // (Object.assign copies the request's own fields, symbol-keyed ones
    // included. Object.create(request) would be cheaper, but a prototype
    // gets a V8 map of its own: 0.4 KiB more per connection.)
    const copy = Object.assign(
      Object.create(Object.getPrototypeOf(request)),
      request,
    );
    let headers: Headers = copy.headers;
    if (headers === request.headers) {
      // The request had made its Headers before (something read them): the
      // copy shares them. Unset that field in the copy so it makes its own.
      for (const key of Object.getOwnPropertySymbols(copy)) {
        if (copy[key] === headers) copy[key] = undefined;
      }
      headers = copy.headers;
    }
    return headers;
  } catch {
    return request.headers;
  }
}

// Between names and values: neither may contain a line feed (Headers rejects
// one in a value; a name is an HTTP token).
const SEPARATOR = "\n";

/**
 * `headers` in one string: `name\nvalue\nname\nvalue…`, lowercase names in
 * sorted order, repeated headers combined (as iterating them gives them).
 * One flat string costs a sixth of what a `Headers` object with the same
 * headers does.
 */
export function packHeaders(headers: Headers): string {
  const parts: string[] = [];
  headers.forEach((value, name) => {
    parts.push(name, value);
  });
  return parts.join(SEPARATOR);
}

/** A new `Headers` object with the headers `packHeaders()` packed. */
export function unpackHeaders(packed: string): Headers {
  const headers = new Headers();
  if (packed === "") return headers;
  const parts = packed.split(SEPARATOR);
  for (let i = 0; i < parts.length; i += 2) {
    const name = parts[i];
    let value = parts[i + 1];
    // A stored value never ends with a space (Headers trims them), so a
    // combined one that does ended with empty values, which appending it
    // whole would trim away: append those on their own.
    let empty = 0;
    while (value.endsWith(", ")) {
      value = value.slice(0, -2);
      empty++;
    }
    headers.append(name, value);
    for (; empty > 0; empty--) headers.append(name, "");
  }
  return headers;
}
