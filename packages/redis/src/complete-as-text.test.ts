// The store declares `completesWithText`: a result text is taken as the outcome's bytes (core's
// `resultTextString`), sent inline as a string or aside as pieces of one Buffer made from it, and core's bytes are
// never built; a text that is not a result text goes by its `result`. Each comes back byte for byte, on
// every client.
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { type CompleteRequest, createIdempotency, resultTextBytes, withLazyResult } from "@idemkit/core";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { probeRedis, REDIS_URL, STANDALONE_CLIENTS } from "./testing/clients.js";

const prefix = "idemkit-test:text:";
const skip = skipUnlessAvailable("redis", await probeRedis());
const RETENTION_MS = 60_000;

/** run()'s result text of `value`: the envelope's NUL escaped, the JSON tag, the JSON. */
const runText = (value: unknown) => `\u00100\u0001${JSON.stringify(value)}`;

/** A request given as `resultText` whose `result` fails the test if read. */
const unbuilt = (resultText: string) =>
  Object.defineProperty({ resultText, retentionMs: RETENTION_MS }, "result", {
    enumerable: true,
    get: () => expect.unreachable("the bytes of a completion given as run()'s text were built"),
  }) as CompleteRequest;

describe.skipIf(Boolean(skip))("redis store: completions given as text", () => {
  it("declares completesWithText, not enumerable (a copy of the store does not)", () => {
    const store = createRedisStore({ client: new Redis(REDIS_URL, { lazyConnect: true }) });
    expect(store.completesWithText).toBe(true);
    expect(Object.keys(store)).not.toContain("completesWithText");
  });

  for (const [name, open] of STANDALONE_CLIENTS) {
    it(`${name}: run()'s text is stored inline or aside without its bytes built, with any owner token; a text that is not one by its result`, async () => {
      const { client, close } = await open();
      const raw = new Redis(REDIS_URL);
      try {
        const store = createRedisStore({ client, prefix });
        const complete = async (request: CompleteRequest, token: string = randomUUID()) => {
          const key = randomUUID();
          const claim = { token, fingerprint: "f", leaseMs: 60_000, retentionMs: RETENTION_MS };
          expect((await store.claim(key, claim)).acquired).toBe(true);
          expect(await store.complete(key, token, request)).toBe(true);
          const record = await store.get(key);
          if (record?.state !== "completed")
            throw new Error(`expected a completed record, got ${record?.state}`);
          return { bytes: Buffer.from(record.result), kept: await raw.getrange(`${prefix}${key}`, 0, 0) };
        };
        // Inline below 8 KiB (a string up to 4096 bytes, bytes above), aside from there (large-reads.ts);
        // a token past ASCII counts in bytes. Sizes are the outcome's: the envelope, the tag, the JSON.
        for (const [size, kept] of [
          [100, "c"],
          [4096, "c"],
          [4097, "c"],
          [8191, "c"],
          [8192, "l"],
          [65_536, "l"],
        ] as const) {
          const text = runText({ pad: "x".repeat(size - 12) });
          expect(resultTextBytes(text)?.length).toBe(size);
          for (const token of [randomUUID(), `tökén-${randomUUID()}`]) {
            const stored = await complete(unbuilt(text), token);
            expect(stored.bytes.equals(Buffer.from(resultTextBytes(text)!)), `${size} ${token}`).toBe(true);
            expect(stored.kept, `${size}`).toBe(kept);
          }
        }
        // Escapes past the envelope (stored from the text), or text that is not a result text (from `result`).
        for (const text of [
          "\u00100\u0001\u0010\u0010",
          "\u00100\u00100",
          "\u00100é",
          "{}",
          "\u00100a\u0000",
        ]) {
          const result = Uint8Array.from([0, 1, 0x10, 0x7b]);
          const bytes = resultTextBytes(text);
          const request = bytes
            ? withLazyResult({ retentionMs: RETENTION_MS }, text)
            : { result, resultText: text, retentionMs: RETENTION_MS };
          const stored = await complete(request);
          expect(stored.bytes.equals(Buffer.from(bytes ?? result)), JSON.stringify(text)).toBe(true);
        }
        // Through run(): the value replays.
        const idem = createIdempotency({ store });
        const value = { blob: "y".repeat(70_000), n: 1 };
        const key = randomUUID();
        expect((await idem.execute({ key }, () => value)).value).toEqual(value);
        expect(await idem.execute({ key }, () => "again")).toEqual({ value, replayed: true });
      } finally {
        await Promise.all([close(), raw.quit()]);
      }
    });
  }
});
