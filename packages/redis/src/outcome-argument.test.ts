// How an outcome becomes a command argument (outcome-argument.ts): a Buffer goes as it is, any other
// Uint8Array as a Buffer over the same memory, and the bytes sent are the view's own either way.
import { describe, expect, it } from "vitest";
import { asidePieces, outcomeArgument, PIECE_BYTES } from "./outcome-argument.js";

/** A Buffer and a plain array over memory that was then transferred away: both read as empty. */
function detached(): Uint8Array[] {
  const arrays = [Buffer.from(new ArrayBuffer(4)), new Uint8Array(new ArrayBuffer(4))];
  for (const array of arrays) structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return arrays;
}

describe("outcomeArgument", () => {
  it("a Buffer of bytes past ASCII goes as it is: no Buffer is made around it", () => {
    const result = Buffer.from([0x7b, 0xff, 0x00, 0x7d]);
    expect(outcomeArgument(result)).toBe(result);
  });

  it("a Buffer that is a view of a larger one goes as it is, with only its own bytes", () => {
    const backing = Buffer.from([1, 2, 0x80, 0x81, 0x82, 3]);
    const view = backing.subarray(2, 5);
    const argument = outcomeArgument(view);
    expect(argument).toBe(view);
    expect([...(argument as Buffer)]).toEqual([0x80, 0x81, 0x82]);
  });

  it("a plain Uint8Array becomes a Buffer over the same memory, its own bytes only", () => {
    const backing = Uint8Array.from([9, 0x80, 0x90, 9]);
    const view = backing.subarray(1, 3);
    const argument = outcomeArgument(view) as Buffer;
    expect(Buffer.isBuffer(argument)).toBe(true);
    expect(argument.buffer).toBe(backing.buffer);
    expect([argument.byteOffset, argument.byteLength]).toEqual([1, 2]);
  });

  it("ASCII bytes up to the string size go as a string, a Buffer's as a Uint8Array's", () => {
    expect(outcomeArgument(Buffer.from('{"a":1}'))).toBe('{"a":1}');
    expect(outcomeArgument(new TextEncoder().encode('{"a":1}'))).toBe('{"a":1}');
  });

  it("an outcome kept aside copies a Buffer's own bytes, after the mark and token", () => {
    const backing = Buffer.from([0xaa, 0x80, 0x81, 0xbb]);
    const pieces = asidePieces("t", backing.subarray(1, 3));
    expect(pieces.map((piece) => [...piece])).toEqual([
      [0x6f, 0x74],
      [0x80, 0x81],
    ]); // "o", "t"; the outcome
    backing.fill(0); // a copy: the caller's memory may change after the call
    expect(pieces.map((piece) => [...piece])).toEqual([
      [0x6f, 0x74],
      [0x80, 0x81],
    ]);
  });

  it("an outcome kept aside goes in pieces of PIECE_BYTES, the last one the rest, bytes or text alike", () => {
    const bytes = new Uint8Array(2 * PIECE_BYTES + 5).map((_, i) => i % 251);
    for (const result of [bytes, Buffer.from(bytes).toString("latin1")]) {
      const [head, ...pieces] = asidePieces("tö", result);
      expect(head?.toString()).toBe("otö");
      expect(pieces.map((piece) => piece.length)).toEqual([PIECE_BYTES, PIECE_BYTES, 5]);
      expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
    }
    expect(asidePieces("t", new Uint8Array(PIECE_BYTES)).map((piece) => piece.length)).toEqual([
      2,
      PIECE_BYTES,
    ]);
  });

  it("throws for an array whose memory was transferred away, rather than sending it as empty", () => {
    for (const array of detached()) expect(() => outcomeArgument(array)).toThrow(TypeError);
  });
});
