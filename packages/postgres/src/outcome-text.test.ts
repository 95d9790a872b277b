// The `outcome` column's encoding, without a database: every ASCII outcome comes back byte for byte from
// its text (NUL and DLE escaped), any other is left to `outcome_bytes`, and text the store did not write
// is refused. format.test.ts sends the same outcomes through PostgreSQL.

import { isAscii } from "node:buffer";
import { describe, expect, it, vi } from "vitest";
import { decodeOutcome, outcomeText } from "./outcome-text.js";
import { joinBytes as bytes, EDGE_OUTCOMES } from "./test-support.js";

const encode = (outcome: Uint8Array) => outcomeText(outcome)?.toString("latin1");
const roundTrip = (outcome: Uint8Array) => {
  const text = encode(outcome);
  return { text, back: text === undefined ? undefined : decodeOutcome(text) };
};
const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(b);

describe("the outcome column's encoding", () => {
  it.each(EDGE_OUTCOMES)(
    "%s: if ASCII, comes back byte for byte from ASCII text without NUL",
    (_label, outcome) => {
      const { text, back } = roundTrip(outcome);
      if (!isAscii(outcome)) {
        expect(text).toBeUndefined(); // left to outcome_bytes
        return;
      }
      expect(same(back, outcome)).toBe(true);
      // ASCII: the same bytes in every client encoding; and a PostgreSQL text cannot hold NUL.
      expect([...(text ?? "")].every((c) => c > "\u0000" && c < "\u0080")).toBe(true);
    },
  );

  it("ASCII is kept as itself after 't' (NUL and DLE escaped); any other outcome is not text", () => {
    expect(encode(bytes('{"a":1}'))).toBe('t{"a":1}');
    expect(encode(bytes("a", [0], "b", [0x10]))).toBe("ta\u00100b\u0010\u0010");
    for (const other of [bytes([0xff, 0]), bytes('{"name":"żółć"}'), bytes([0x80])]) {
      expect(encode(other)).toBeUndefined();
    }
  });

  it("an outcome given as a view into a larger buffer is encoded from its own bytes", () => {
    const larger = bytes("xx", [0], "yy");
    const view = new Uint8Array(larger.buffer, larger.byteOffset + 1, 3);
    expect(same(roundTrip(view).back, bytes("x", [0], "y"))).toBe(true);
  });

  it("5,000 random outcomes rich in NUL, DLE, the kinds' letters and multi-byte text: each ASCII one comes back byte for byte", () => {
    let seed = 42;
    const random = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 2 ** 32;
    };
    const pieces = [
      [0],
      [0x10],
      [0x74],
      [0x62],
      [0x30],
      [0xc5, 0xbc],
      [0xf0, 0x9f, 0x98, 0x80],
      [0x41],
      [0xff],
    ];
    for (let i = 0; i < 5000; i++) {
      const parts = Array.from({ length: Math.floor(random() * 12) }, () => {
        const piece = pieces[Math.floor(random() * pieces.length)] as number[];
        return random() < 0.1 ? piece.slice(0, 1) : piece; // sometimes a character cut short
      });
      const outcome = Buffer.from(parts.flat());
      const { text, back } = roundTrip(outcome);
      if (isAscii(outcome)) expect(same(back, outcome), outcome.toString("hex")).toBe(true);
      else expect(text).toBeUndefined();
    }
  });

  // Each escape once searched for the next NUL and for the next DLE from where it stood, so an outcome
  // of many of one and none of the other was scanned to its end per escape: 1 MiB of NULs took ~10 s.
  it("escaping reads each byte a bounded number of times: NULs, DLEs, both in turn", () => {
    const size = 16 * 1024;
    for (const outcome of [
      Buffer.alloc(size, 0),
      Buffer.alloc(size, 0x10),
      Buffer.alloc(size, "\u0000\u0010a"),
    ]) {
      let scanned = 0;
      const indexOf = Buffer.prototype.indexOf;
      const spy = vi.spyOn(Buffer.prototype, "indexOf").mockImplementation(function (this: Buffer, ...args) {
        const found = indexOf.apply(this, args);
        scanned += (found === -1 ? this.length : found + 1) - Number(args[1] ?? 0);
        return found;
      });
      let text: string | undefined;
      try {
        text = encode(outcome);
      } finally {
        spy.mockRestore();
      }
      expect(scanned).toBeLessThanOrEqual(2 * size + 2);
      expect(same(decodeOutcome(text ?? ""), outcome)).toBe(true);
    }
    const large = Buffer.alloc(8 * 1024 * 1024, 0); // hours for the old escaping
    expect(same(roundTrip(large).back, large)).toBe(true);
  });

  it("text the store did not write is refused", () => {
    const refused = [
      ["", "ok", "x"], // no kind
      ["tok\u0010", "to\u0010k", "t\u0010\u0011"], // an escape of nothing it escapes
      ["tż", "tŁ", "t\u00e9"], // text past ASCII (Ł's low byte is "A")
      ["b!!!!", "bb2s", "bb2!="], // not base64 (which a build in between wrote), or cut short
      ["bAB==", "bAP==", "bAAB=", "b-_-_"], // spare bits set, the URL-safe alphabet
    ].flat();
    for (const text of refused) expect(decodeOutcome(text), JSON.stringify(text)).toBeUndefined();
    expect(same(decodeOutcome("bAA=="), bytes([0]))).toBe(true);
    expect(same(decodeOutcome("b+/+/"), bytes([0xfb, 0xff, 0xbf]))).toBe(true);
  });
});
