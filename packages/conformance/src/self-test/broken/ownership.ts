import type { IdempotencyStore } from "@idemkit/core";
import { type BrokenStore, wrapped, wrappedTracked } from "./support.js";

/** The live lease's owner token if there is one, else `token`: what a call that ignores the token uses. */
async function anyOwner(inner: IdempotencyStore, key: string, token: string): Promise<string> {
  const record = await inner.get(key);
  return record?.state === "in_progress" ? record.token : token;
}

/** Broken stores the `ownership` checks catch. */
export const ownership: BrokenStore[] = [
  {
    name: "complete-ignores-token",
    breaks: "complete is a compare-and-set on the owner token (this one completes any live lease)",
    fails: { "ownership/wrong-token": /complete with another token returned true, expected false/ },
    build: (inner) =>
      wrapped(inner, {
        complete: async (key, token, outcome) =>
          inner.complete(key, await anyOwner(inner, key, token), outcome),
      }),
  },
  {
    name: "release-ignores-token",
    breaks: "release is a compare-and-set on the owner token (this one releases any live lease)",
    fails: { "ownership/wrong-token": /release with another token returned true, expected false/ },
    build: (inner) =>
      wrapped(inner, {
        release: async (key, token) => inner.release(key, await anyOwner(inner, key, token)),
      }),
  },
  {
    name: "extend-ignores-token",
    breaks: "extend is a compare-and-set on the owner token (this one extends any live lease)",
    fails: { "ownership/wrong-token": /extend with another token returned true, expected false/ },
    build: (inner) =>
      wrapped(inner, {
        extend: async (key, token, leaseMs) => inner.extend(key, await anyOwner(inner, key, token), leaseMs),
      }),
  },
  {
    name: "complete-creates-absent-key",
    breaks: "complete of a key nobody holds changes nothing (this one upserts the outcome)",
    fails: { "ownership/absent-key": /complete of a key never claimed returned true, expected false/ },
    build: (inner) =>
      wrappedTracked(inner, ({ last }) => ({
        async complete(key, token, outcome) {
          if (!last.has(key) && (await inner.get(key)) === undefined) {
            await inner.claim(key, { token, fingerprint: "", leaseMs: 60_000, retentionMs: 60_000 });
          }
          return inner.complete(key, token, outcome);
        },
      })),
  },
];
