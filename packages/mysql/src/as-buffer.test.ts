// asBuffer (store.ts): what mysql2 is handed for an outcome, which it writes into the statement as a
// hexadecimal literal. A Buffer goes as it is; any other Uint8Array as a Buffer over the same memory.
import { format } from "mysql2";
import { describe, expect, it } from "vitest";
import { asBuffer } from "./store.js";

const literal = (bytes: Uint8Array) => format("?", [asBuffer(bytes)]);

/** A Buffer and a plain array over memory that was then transferred away: both read as empty. */
function detached(): Uint8Array[] {
  const arrays = [Buffer.from(new ArrayBuffer(4)), new Uint8Array(new ArrayBuffer(4))];
  for (const array of arrays) structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return arrays;
}

describe("asBuffer", () => {
  it("hands a Buffer on as it is (no Buffer made around it), a view of a larger one too", () => {
    const pooled = Buffer.from([0xff, 0x00, 0x7b]);
    const view = Buffer.from([1, 0x80, 0x81, 2]).subarray(1, 3);
    for (const buffer of [pooled, view]) expect(asBuffer(buffer)).toBe(buffer);
    expect([literal(pooled), literal(view)]).toEqual(["X'ff007b'", "X'8081'"]);
  });

  it("wraps a plain Uint8Array's own bytes, shared memory and empty arrays included", () => {
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    shared.set([0x10, 0x20, 0x30, 0x40]);
    expect(literal(Uint8Array.from([9, 0x80, 0x90, 9]).subarray(1, 3))).toBe("X'8090'");
    expect(literal(shared.subarray(1, 3))).toBe("X'2030'");
    expect(literal(new Uint8Array(0))).toBe("X''");
  });

  it("throws for an array whose memory was transferred away, rather than sending it as empty", () => {
    for (const array of detached()) expect(() => asBuffer(array)).toThrow(TypeError);
  });
});
