import { wrap } from "../harness.js";
import { type BrokenStore, owns, single, wrapped, wrappedTracked } from "./support.js";

/** Broken stores the `release` checks catch. */
export const release: BrokenStore[] = [
  {
    name: "release-noop",
    breaks: "release makes the key absent at once (this one answers true and changes nothing)",
    fails: { "release/claimable": /get after the release: expected the key to read as absent/ },
    build: (inner) => wrapped(inner, { release: (key, token) => owns(inner, key, token) }),
  },
  {
    name: "release-deletes",
    breaks: "release keeps the record and its fence until keep-until (this one deletes the row)",
    fails: {
      "release/keeps-fence": /acquired with fence 1, expected fence 2/,
      "release/keeps-fence-after-takeover": /acquired with fence 1, expected fence 3/,
    },
    build: (inner) =>
      wrapped(inner, {
        async release(key, token) {
          if (!(await inner.release(key, token))) return false;
          await inner.delete(key);
          return true;
        },
      }),
  },
  {
    name: "purge-forgets-released",
    breaks: "a purge keeps a released record until its keep-until (this one purges released rows at once)",
    fails: { "release/keeps-fence": /acquired with fence 1, expected fence 2 \(.*purge/ },
    build: (inner) => {
      const released = new Set<string>();
      const store = wrap(inner, {
        async release(key, token) {
          const done = await inner.release(key, token);
          if (done) released.add(key);
          return done;
        },
      });
      return single(inner, store, async () => {
        for (const key of released) if ((await inner.get(key)) === undefined) await inner.delete(key);
        released.clear();
      });
    },
  },
  {
    name: "release-is-takeover",
    breaks: "a claim after a release is no takeover (this one cannot tell a release from an expired lease)",
    fails: { "release/keeps-fence": /acquired with takeover: true, expected takeover: false/ },
    build: (inner) => {
      const released = new Set<string>();
      return wrapped(inner, {
        async release(key, token) {
          const done = await inner.release(key, token);
          if (done) released.add(key);
          return done;
        },
        async claim(key, claim) {
          const result = await inner.claim(key, claim);
          if (!result.acquired || !released.delete(key)) return result;
          return { ...result, takeover: true };
        },
      });
    },
  },
  {
    name: "release-after-expiry",
    breaks: "release of a lease that already ended returns false (this one answers true for its last owner)",
    fails: {
      "release/expired-own-lease":
        /release by the owner after its lease ended .* returned true, expected false/,
    },
    build: (inner) =>
      wrappedTracked(inner, ({ last }) => ({
        async release(key, token) {
          if (await inner.release(key, token)) return true;
          return last.get(key)?.token === token && (await inner.get(key)) === undefined;
        },
      })),
  },
];
