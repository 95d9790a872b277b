import { randomBytes } from "node:crypto";

/**
 * `length` UTF-16 code units of random well-formed text: ASCII (with `:`, `{`, `%`, quotes and, unless
 * `nul` is false, NUL), Latin, CJK and astral characters (a surrogate pair is never split).
 */
export function randomText(length: number, { nul = true }: { nul?: boolean } = {}): string {
  const ranges: [number, number][] = [
    [nul ? 0x00 : 0x01, 0x7f],
    [0xa0, 0x24f],
    [0x4e00, 0x9fff],
    [0x1f300, 0x1f6ff],
  ];
  let bytes = randomBytes(length * 4);
  let out = "";
  for (let i = 0; out.length < length; i += 4) {
    if (i + 4 > bytes.length) {
      bytes = randomBytes(length * 4);
      i = 0;
    }
    const [low, high] = ranges[bytes[i]! % ranges.length]!;
    let cp = low + (bytes.readUInt16BE(i + 1) % (high - low + 1));
    if (cp > 0xffff && out.length === length - 1) cp = 0x61;
    out += String.fromCodePoint(cp);
  }
  return out;
}

/**
 * `text` with the character at (or just after) `index` replaced by another ASCII letter: a twin that
 * differs in exactly one place, never splitting a surrogate pair.
 */
export function twinAt(text: string, index: number): string {
  let i = Math.max(0, Math.min(index, text.length - 1));
  while (i < text.length && isSurrogate(text.charCodeAt(i))) i++;
  if (i >= text.length) {
    i = Math.min(index, text.length - 1);
    while (i > 0 && isSurrogate(text.charCodeAt(i))) i--;
  }
  const replacement = text[i] === "a" ? "b" : "a";
  return text.slice(0, i) + replacement + text.slice(i + 1);
}

const isSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;
