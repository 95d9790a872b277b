import { wrap } from "../harness.js";
import { type BrokenStore, single, tracked } from "./support.js";

/** Broken stores the `ownership` checks catch. */
export const ownership: BrokenStore[] = [
  {
    name: "complete-ignores-token",
    breaks: "complete is a compare-and-set on the owner token (this one completes any live lease)",
    fails: { "ownership/wrong-token": /complete with another token returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async complete(key, token, outcome) {
            const record = await inner.get(key);
            return inner.complete(key, record?.state === "in_progress" ? record.token : token, outcome);
          },
        }),
      ),
  },
  {
    name: "release-ignores-token",
    breaks: "release is a compare-and-set on the owner token (this one releases any live lease)",
    fails: { "ownership/wrong-token": /release with another token returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async release(key, token) {
            const record = await inner.get(key);
            return inner.release(key, record?.state === "in_progress" ? record.token : token);
          },
        }),
      ),
  },
  {
    name: "extend-ignores-token",
    breaks: "extend is a compare-and-set on the owner token (this one extends any live lease)",
    fails: { "ownership/wrong-token": /extend with another token returned true, expected false/ },
    build: (inner) =>
      single(
        inner,
        wrap(inner, {
          async extend(key, token, leaseMs) {
            const record = await inner.get(key);
            return inner.extend(key, record?.state === "in_progress" ? record.token : token, leaseMs);
          },
        }),
      ),
  },
  {
    name: "complete-creates-absent-key",
    breaks: "complete of a key nobody holds changes nothing (this one upserts the outcome)",
    fails: { "ownership/absent-key": /complete of a key never claimed returned true, expected false/ },
    build: (inner) => {
      const { store, last } = tracked(inner);
      return single(
        inner,
        wrap(store, {
          async complete(key, token, outcome) {
            if (!last.has(key) && (await inner.get(key)) === undefined) {
              await inner.claim(key, { token, fingerprint: "", leaseMs: 60_000, retentionMs: 60_000 });
            }
            return inner.complete(key, token, outcome);
          },
        }),
      );
    },
  },
];
