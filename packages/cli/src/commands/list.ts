import { formatDuration } from "../duration.js";
import { EXIT } from "../errors.js";
import { json, printable, table } from "../output.js";
import type { Command } from "./context.js";
import { collect, listOf } from "./listing.js";

/** `idemkit list`: the live records (in progress, older than…: the stuck keys), up to `--limit`. */
export const list: Command = async ({ invocation, open, io }) => {
  const { state, olderThanMs, prefix, limit, cursor } = invocation;
  const found = await collect(listOf(open), { state, olderThanMs, prefix }, limit, cursor);
  if (invocation.json) {
    io.stdout(json(found));
    return EXIT.OK;
  }
  const now = io.now();
  const rows = found.records.map((r) => [
    r.state,
    String(r.fence),
    `${formatDuration(now - r.claimedAt)} ago`,
    r.expiresAt >= now ? `in ${formatDuration(r.expiresAt - now)}` : "now",
    printable(r.key),
  ]);
  if (rows.length > 0) io.stdout(`${table([["STATE", "FENCE", "CLAIMED", "EXPIRES", "KEY"], ...rows])}\n`);
  const count = `${found.records.length} record${found.records.length === 1 ? "" : "s"}`;
  io.stderr(
    found.cursor === undefined
      ? `${count}\n`
      : `${count} (--limit ${limit}); more may follow: add --cursor ${found.cursor}\n`,
  );
  return EXIT.OK;
};
