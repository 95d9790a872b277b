import { EXIT } from "../errors.js";
import { json } from "../output.js";
import type { Command } from "./context.js";

/** Records deleted per call: a store that takes a limit (PostgreSQL) is called until it deletes fewer. */
const BATCH = 1000;

/**
 * `idemkit purge-expired`: deletes the records past their keep-until time, on a store that keeps them
 * until then (SQLite, PostgreSQL). A store that forgets them by itself (Redis, MongoDB) has nothing to do.
 */
export const purgeExpired: Command = async ({ invocation, open, io }) => {
  const { store } = open;
  if (typeof store.purgeExpired !== "function") {
    const why = open.forgetsByItself ?? "it offers no purgeExpired()";
    if (invocation.json) io.stdout(json({ purged: 0, automatic: why }));
    else io.stdout(`nothing to purge: on the ${open.name} store, ${why}\n`);
    return EXIT.OK;
  }
  let purged = 0;
  for (;;) {
    const count = await store.purgeExpired({ limit: BATCH });
    purged += count;
    if (count < BATCH) break;
  }
  if (invocation.json) io.stdout(json({ purged }));
  else io.stdout(`purged ${purged} expired record${purged === 1 ? "" : "s"}\n`);
  return EXIT.OK;
};
