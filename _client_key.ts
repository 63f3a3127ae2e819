// Who a client is, for maxConnectionsPerClient: its address, normalised so
// that one host cannot dodge the cap by rotating through addresses it owns
// (an IPv6 host gets a whole /64), optionally read through trusted proxies.

/**
 * The address a connection counts under: IPv4 as it is; IPv6 cut to its
 * /64 prefix (written `2001:db8:0:1::/64`); an IPv4-mapped IPv6 address as
 * its IPv4 address.
 */
export function addressKey(address: string): string {
  if (!address.includes(":")) return address;
  let text = address.startsWith("[") ? address.slice(1, -1) : address;
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped !== null) return mapped[1];
  const groups = expand(text);
  if (groups === null) return address; // not an address we know: as it is
  return groups.slice(0, 4).map((g) => g.toString(16)).join(":") + "::/64";
}

// The 8 groups of an IPv6 address, or null if it is not one.
function expand(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (part: string) => part === "" ? [] : part.split(":");
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  // An embedded IPv4 tail (::1.2.3.4) stands for two groups.
  const last = (tail.length > 0 ? tail : head).at(-1);
  if (last !== undefined && last.includes(".")) {
    const octets = last.split(".").map(Number);
    const list = tail.length > 0 ? tail : head;
    list.splice(
      list.length - 1,
      1,
      ((octets[0] << 8) | octets[1]).toString(16),
      ((octets[2] << 8) | octets[3]).toString(16),
    );
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array(missing).fill("0"), ...tail].map((g) =>
    /^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN
  );
  return groups.some(Number.isNaN) ? null : groups;
}

/**
 * The client's address: the socket's peer, or with `trustProxy` hops of
 * reverse proxies in front, the address that many entries back in
 * `X-Forwarded-For` (each proxy appends the address it got the request
 * from, so only the last `trustProxy` entries can be believed). Null when
 * unknown.
 */
export function clientAddress(
  remote: string | null,
  headers: Headers,
  trustProxy: number,
): string | null {
  if (trustProxy === 0) return remote;
  const forwarded = headers.get("x-forwarded-for");
  if (forwarded === null) return remote;
  const hops = forwarded.split(",").map((entry) => entry.trim()).filter((
    entry,
  ) => entry !== "");
  if (remote !== null) hops.push(remote);
  return hops[Math.max(0, hops.length - 1 - trustProxy)] ?? remote;
}
