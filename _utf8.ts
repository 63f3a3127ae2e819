// UTF-8 helpers shared by the connection, the test client and the limits.
// One encoder and decoder per module: they are stateless between calls.

/** Shared encoder. */
export const encoder: TextEncoder = new TextEncoder();
/** Shared decoder that throws on invalid UTF-8 instead of inserting U+FFFD. */
export const strictDecoder: TextDecoder = new TextDecoder("utf-8", {
  fatal: true,
});

/**
 * The UTF-8 byte length of `text`, without encoding it.
 *
 * A lone surrogate counts 3 bytes, as `TextEncoder` writes U+FFFD for it.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (
      unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      // A surrogate pair: two units, four bytes.
      bytes += 2;
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Cuts `text` to at most `bytes` UTF-8 bytes, on a character boundary. */
export function cutUtf8(text: string, bytes: number): string {
  if (!utf8Exceeds(text, bytes)) return text;
  const encoded = encoder.encode(text);
  let end = bytes;
  // Step back over continuation bytes (10xxxxxx) to a character start.
  while (end > 0 && (encoded[end] & 0xc0) === 0x80) end--;
  return strictDecoder.decode(encoded.subarray(0, end));
}

/**
 * Whether `text` takes more than `limit` UTF-8 bytes. Counts only when the
 * answer is not obvious from the UTF-16 length (each unit is 1 to 3 bytes).
 */
export function utf8Exceeds(text: string, limit: number): boolean {
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  return utf8Length(text) > limit;
}
