import { type BrokenStore, wrapped } from "./support.js";

/** Broken stores the `records` checks catch. */
export const records: BrokenStore[] = [
  {
    name: "delete-keeps-completed",
    breaks: "delete removes a record whatever its state (this one removes in-progress records only)",
    fails: {
      "records/get-delete": /get after deleting the completed key: expected the key to read as absent/,
    },
    build: (inner) =>
      wrapped(inner, {
        async delete(key) {
          if ((await inner.get(key))?.state === "completed") return true;
          return inner.delete(key);
        },
      }),
  },
];
