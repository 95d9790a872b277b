// asBuffer (outcome-text.ts): what pg is handed for an outcome's bytes. A Buffer goes as it is; any
// other Uint8Array as a Buffer over the same memory, its own bytes only.
import { describe, expect, it } from "vitest";
import { asBuffer } from "./outcome-text.js";

/** A Buffer and a plain array over memory that was then transferred away: both read as empty. */
function detached(): Uint8Array[] {
  const arrays = [Buffer.from(new ArrayBuffer(4)), new Uint8Array(new ArrayBuffer(4))];
  for (const array of arrays) structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return arrays;
}

describe("asBuffer", () => {
  it("a Buffer, a view of a larger one included, goes as it is: no Buffer is made around it", () => {
    const whole = Buffer.from([0x80, 1, 2]);
    expect(asBuffer(whole)).toBe(whole);
    const view = Buffer.from([9, 0x80, 0x81, 9]).subarray(1, 3);
    expect(asBuffer(view)).toBe(view);
    expect([...asBuffer(view)]).toEqual([0x80, 0x81]);
  });

  it("a plain Uint8Array becomes a Buffer over the same memory, its own bytes only", () => {
    const backing = Uint8Array.from([9, 0x80, 0x90, 9]);
    const buffer = asBuffer(backing.subarray(1, 3));
    expect(Buffer.isBuffer(buffer)).toBe(true);
    expect(buffer.buffer).toBe(backing.buffer);
    expect([buffer.byteOffset, buffer.byteLength]).toEqual([1, 2]);
  });

  it("throws for an array whose memory was transferred away, rather than sending it as empty", () => {
    for (const array of detached()) expect(() => asBuffer(array)).toThrow(TypeError);
  });
});
