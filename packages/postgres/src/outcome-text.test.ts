// The `result` column's encoding, without a database: every outcome comes back byte for byte, UTF-8 is
// kept as text (NUL and DLE escaped), anything else goes to base64, and text the store did not write is
// refused. format.test.ts sends the same outcomes through PostgreSQL.
import { describe, expect, it } from "vitest";
import { decodeOutcome, encodeOutcome } from "./outcome-text.js";
import { joinBytes as bytes, EDGE_OUTCOMES } from "./test-support.js";

const roundTrip = (outcome: Uint8Array) => {
  const text = encodeOutcome(outcome).toString("utf8");
  return { text, back: decodeOutcome(text) };
};

describe("the result column's encoding", () => {
  it.each(EDGE_OUTCOMES)("%s: comes back byte for byte", (_label, outcome) => {
    const { text, back } = roundTrip(outcome);
    expect(back).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(back as Uint8Array).equals(outcome)).toBe(true);
    expect(text.includes("\u0000")).toBe(false); // a PostgreSQL text cannot hold NUL
  });

  it("UTF-8 is kept as itself after 't' (escaped), anything else as base64 after 'b'", () => {
    expect(encodeOutcome(bytes('{"a":1}')).toString("latin1")).toBe('t{"a":1}');
    expect(encodeOutcome(bytes("a", [0], "b", [0x10])).toString("latin1")).toBe("ta\u00100b\u0010\u0010");
    expect(encodeOutcome(bytes([0xff, 0])).toString("latin1")).toBe(
      `b${Buffer.from([0xff, 0]).toString("base64")}`,
    );
  });

  it("an outcome given as a view into a larger buffer is encoded from its own bytes", () => {
    const larger = bytes("xx", [0], "yy");
    const view = new Uint8Array(larger.buffer, larger.byteOffset + 1, 3);
    expect(
      Buffer.from(decodeOutcome(encodeOutcome(view).toString()) as Uint8Array).equals(bytes("x", [0], "y")),
    ).toBe(true);
  });

  it("5,000 random outcomes rich in NUL, DLE and multi-byte text come back byte for byte", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pieces = [[0], [0x10], [0x74], [0x62], [0xc5, 0xbc], [0xf0, 0x9f, 0x98, 0x80], [0x41], [0xff]];
    for (let i = 0; i < 5000; i++) {
      const parts = Array.from({ length: Math.floor(random() * 12) }, () => {
        const piece = pieces[Math.floor(random() * pieces.length)] as number[];
        return random() < 0.1 ? piece.slice(0, 1) : piece; // sometimes a character cut short
      });
      const outcome = Buffer.from(parts.flat());
      const back = roundTrip(outcome).back;
      expect(back && Buffer.from(back).equals(outcome), outcome.toString("hex")).toBe(true);
    }
  });

  it("text the store did not write is refused", () => {
    for (const text of ["", "ok", "x", "b!!!!", "bb2s", "bb2!=", "tok\u0010", "to\u0010k", "t\u0010\u0011"]) {
      expect(decodeOutcome(text), JSON.stringify(text)).toBeUndefined();
    }
  });
});
