// A completion binds the outcome's Uint8Array as it is (row.ts, `blob`): no Buffer made around it, and
// the bytes stored are exactly the view's, whatever array it is given.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createSqliteStore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "idemkit-sqlite-binding-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sqlite store: how a completion binds its outcome", () => {
  const store = createSqliteStore({ database: join(dir, "binding.db") });
  afterAll(() => store.close());

  /** Claims a fresh key, completes it with `result`, and reads back the stored bytes. */
  async function stored(result: Uint8Array): Promise<Uint8Array> {
    const key = randomUUID();
    const token = randomUUID();
    await store.claim(key, { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
    expect(await store.complete(key, token, { result, retentionMs: 60_000 })).toBe(true);
    const record = await store.get(key);
    if (record?.state !== "completed") throw new Error(`key ${key} is not completed`);
    return record.result;
  }

  it("a Uint8Array goes as it is: no Buffer is made around it", async () => {
    const from = vi.spyOn(Buffer, "from");
    try {
      const result = Uint8Array.from([0x7b, 0, 0x10, 0xff, 0x7d]);
      const read = await stored(result);
      expect(from).not.toHaveBeenCalled();
      expect([...read]).toEqual([0x7b, 0, 0x10, 0xff, 0x7d]);
    } finally {
      from.mockRestore();
    }
  });

  it("a view into a larger buffer, shared memory and a Buffer store only their own bytes", async () => {
    const backing = Uint8Array.from({ length: 64 }, (_, i) => i);
    expect([...(await stored(backing.subarray(5, 9)))]).toEqual([5, 6, 7, 8]);
    const shared = new Uint8Array(new SharedArrayBuffer(8));
    shared.set([9, 8, 7, 6, 5, 4, 3, 2]);
    expect([...(await stored(shared.subarray(2, 4)))]).toEqual([7, 6]);
    const pooled = Buffer.from("ab"); // a slice of Node's shared pool
    expect([...(await stored(pooled))]).toEqual([0x61, 0x62]);
    expect([...(await stored(new Uint8Array(0)))]).toEqual([]);
  });

  it("another realm's Uint8Array (not an instance of ours) is stored as its bytes, as before", async () => {
    const foreign = runInNewContext("new Uint8Array([1, 2, 3, 250]).subarray(1)") as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    expect([...(await stored(foreign))]).toEqual([2, 3, 250]);
  });

  it("an array whose memory was transferred away fails the completion, the key still in progress", async () => {
    const key = randomUUID();
    const token = randomUUID();
    await store.claim(key, { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
    for (const result of [new Uint8Array(new ArrayBuffer(4)), Buffer.from(new ArrayBuffer(4))]) {
      structuredClone(result.buffer, { transfer: [result.buffer as ArrayBuffer] });
      expect(result.byteLength).toBe(0); // reads as empty: it must not be stored as an empty outcome
      await expect(store.complete(key, token, { result, retentionMs: 60_000 })).rejects.toThrow(TypeError);
    }
    expect((await store.get(key))?.state).toBe("in_progress");
  });

  it("the stored bytes are a copy: changing the array after the completion changes nothing", async () => {
    const result = Uint8Array.from([1, 2, 3]);
    const key = randomUUID();
    const token = randomUUID();
    await store.claim(key, { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
    await store.complete(key, token, { result, retentionMs: 60_000 });
    result.fill(0);
    const record = await store.get(key);
    expect(record?.state === "completed" && [...record.result]).toEqual([1, 2, 3]);
  });
});
