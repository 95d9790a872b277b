// The `outcome` column's encoding, without a database: every outcome comes back byte for byte, ASCII is
// kept as text (NUL and DLE escaped), anything else goes to base64, and text the store did not write is
// refused. format.test.ts sends the same outcomes through PostgreSQL.
import { describe, expect, it, vi } from "vitest";
import { decodeOutcome, encodeOutcome } from "./outcome-text.js";
import { joinBytes as bytes, EDGE_OUTCOMES } from "./test-support.js";

const roundTrip = (outcome: Uint8Array) => {
  const text = encodeOutcome(outcome).toString("utf8");
  return { text, back: decodeOutcome(text) };
};
const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(b);

describe("the outcome column's encoding", () => {
  it.each(EDGE_OUTCOMES)("%s: comes back byte for byte, in ASCII without NUL", (_label, outcome) => {
    const { text, back } = roundTrip(outcome);
    expect(back).toBeInstanceOf(Uint8Array);
    expect(same(back, outcome)).toBe(true);
    // ASCII: the same bytes in every client encoding; and a PostgreSQL text cannot hold NUL.
    expect([...text].every((c) => c > "\u0000" && c < "\u0080")).toBe(true);
  });

  it("ASCII is kept as itself after 't' (NUL and DLE escaped), anything else as base64 after 'b'", () => {
    expect(encodeOutcome(bytes('{"a":1}')).toString("latin1")).toBe('t{"a":1}');
    expect(encodeOutcome(bytes("a", [0], "b", [0x10])).toString("latin1")).toBe("ta\u00100b\u0010\u0010");
    for (const other of [bytes([0xff, 0]), bytes('{"name":"żółć"}')]) {
      expect(encodeOutcome(other).toString("latin1")).toBe(`b${other.toString("base64")}`);
    }
  });

  it("an outcome given as a view into a larger buffer is encoded from its own bytes", () => {
    const larger = bytes("xx", [0], "yy");
    const view = new Uint8Array(larger.buffer, larger.byteOffset + 1, 3);
    expect(same(roundTrip(view).back, bytes("x", [0], "y"))).toBe(true);
  });

  it("5,000 random outcomes rich in NUL, DLE, the kinds' letters and multi-byte text come back byte for byte", () => {
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
      expect(same(roundTrip(outcome).back, outcome), outcome.toString("hex")).toBe(true);
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
      let text: string;
      try {
        text = encodeOutcome(outcome).toString("latin1");
      } finally {
        spy.mockRestore();
      }
      expect(scanned).toBeLessThanOrEqual(2 * size + 2);
      expect(same(decodeOutcome(text), outcome)).toBe(true);
    }
    const large = Buffer.alloc(8 * 1024 * 1024, 0); // hours for the old escaping
    expect(same(decodeOutcome(encodeOutcome(large).toString("latin1")), large)).toBe(true);
  });

  it("text the store did not write is refused", () => {
    const refused = [
      ["", "ok", "x"], // no kind
      ["tok\u0010", "to\u0010k", "t\u0010\u0011"], // an escape of nothing it escapes
      ["tż", "tŁ", "t\u00e9"], // text past ASCII (Ł's low byte is "A")
      ["b!!!!", "bb2s", "bb2!="], // not base64, or cut short
      ["bAB==", "bAP==", "bAAB=", "b-_-_"], // spare bits set, the URL-safe alphabet
    ].flat();
    for (const text of refused) expect(decodeOutcome(text), JSON.stringify(text)).toBeUndefined();
    expect(same(decodeOutcome("bAA=="), bytes([0]))).toBe(true);
    expect(same(decodeOutcome("b+/+/"), bytes([0xfb, 0xff, 0xbf]))).toBe(true);
  });
});
