import { type BrokenStore, now, rewriteCompleted, wrapped, wrappedTracked } from "./support.js";

/** Broken stores the `completion` checks catch. */
export const completion: BrokenStore[] = [
  {
    name: "replay-without-result",
    breaks: "a claim of a completed key returns the whole record (this one leaves the outcome bytes out)",
    fails: { "completion/stores-outcome": /the result has 0 bytes, expected 14/ },
    build: (inner) =>
      wrapped(inner, {
        async claim(key, claim) {
          const result = await inner.claim(key, claim);
          if (result.acquired || result.record.state !== "completed") return result;
          return { acquired: false, record: { ...result.record, result: new Uint8Array(0) } };
        },
      }),
  },
  {
    name: "get-completed-wrong-token",
    breaks: "get of a completed record returns the owner's token (this one loses it on completion)",
    fails: {
      "completion/completed-record":
        /get of the completed record: token "" instead of .*completing owner's token/,
    },
    build: (inner) =>
      wrapped(inner, { get: async (key) => rewriteCompleted(await inner.get(key), { token: "" }) }),
  },
  {
    name: "get-completed-wrong-fingerprint",
    breaks: "get of a completed record returns its claim's fingerprint (this one loses it on completion)",
    fails: {
      "completion/completed-record": /get of the completed record: fingerprint "" instead of "fp-second"/,
    },
    build: (inner) =>
      wrapped(inner, { get: async (key) => rewriteCompleted(await inner.get(key), { fingerprint: "" }) }),
  },
  {
    name: "get-completed-wrong-fence",
    breaks: "get of a completed record returns its fence (this one resets it to 1 on completion)",
    fails: {
      "completion/completed-record": /get of the completed record: fence 1 instead of 2/,
      "fences/survives-completion": /get of the completed takeover: fence 1 instead of 2/,
    },
    build: (inner) =>
      wrapped(inner, { get: async (key) => rewriteCompleted(await inner.get(key), { fence: 1 }) }),
  },
  {
    name: "completed-can-be-released",
    breaks: "release only ends a live in-progress lease (this one deletes a completed record for its owner)",
    fails: { "completion/once": /release of the completed key by its owner returned true, expected false/ },
    build: (inner) =>
      wrapped(inner, {
        async release(key, token) {
          if (await inner.release(key, token)) return true;
          const record = await inner.get(key);
          if (record?.state !== "completed" || record.token !== token) return false;
          await inner.delete(key);
          return true;
        },
      }),
  },
  {
    name: "retention-from-claim",
    breaks: "a completed record stays retentionMs from its completion (this one counts from the claim)",
    fails: {
      "completion/retention-from-completion": /retention must run from the completion, not from the claim/,
    },
    build: (inner) =>
      wrappedTracked(inner, ({ last }) => ({
        async complete(key, token, outcome) {
          const since = now() - (last.get(key)?.at ?? now());
          // At least 1 ms: the memory store refuses a retention below that, and the break is the counting.
          const retentionMs = Math.max(1, outcome.retentionMs - since);
          return inner.complete(key, token, { ...outcome, retentionMs });
        },
      })),
  },
];
