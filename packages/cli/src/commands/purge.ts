import { EXIT } from "../errors.js";
import { json, printable } from "../output.js";
import type { Command } from "./context.js";

/**
 * `idemkit purge <key>`: removes the key's record whatever its state, fence included (`delete`). What it
 * was is read first, for the report (a record may change in between: `delete` says whether a live one went).
 */
export const purge: Command = async ({ invocation, open, io }) => {
  const key = invocation.key as string;
  const before = await open.store.get(key);
  const removed = await open.store.delete(key);
  const was = removed && before ? { state: before.state, fence: before.fence } : undefined;
  if (invocation.json) {
    io.stdout(json({ key, purged: removed, ...(was && { was }) }));
  } else if (removed) {
    io.stdout(`purged ${printable(key)}${was ? ` (it was ${was.state}, fence ${was.fence})` : ""}\n`);
  } else {
    io.stderr(`no live record at ${printable(key)}: nothing purged\n`);
  }
  // The owner of a purged claim may still be running, and the next claim starts again at fence 1: said
  // where the operator looks (stderr, both formats), not only in the README.
  if (was?.state === "in_progress") {
    io.stderr(
      `warning: ${printable(key)} was in progress (fence ${was.fence}): its owner may still be running, ` +
        "and the next claim gets fence 1 again, so a downstream fence check cannot reject the old owner\n",
    );
  }
  return removed ? EXIT.OK : EXIT.NOT_FOUND;
};
