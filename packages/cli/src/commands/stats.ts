import { MAX_LIST_LIMIT, type RecordSummary } from "@idemkit/core";
import { formatDuration } from "../duration.js";
import { EXIT } from "../errors.js";
import { json, printable, table } from "../output.js";
import type { Command } from "./context.js";
import { listOf } from "./listing.js";

/**
 * `idemkit stats`: the live records by state (of the whole store, or those `--prefix` / `--scope` and
 * `--older-than` select), and the oldest claim in progress. Reads the whole listing.
 */
export const stats: Command = async ({ invocation, open, io }) => {
  const { olderThanMs, prefix } = invocation;
  const counts = { in_progress: 0, completed: 0 };
  let oldest: RecordSummary | undefined;
  const seen = new Set<string>();
  const list = listOf(open);
  let cursor: string | undefined;
  do {
    const page = await list({ olderThanMs, prefix, limit: MAX_LIST_LIMIT, cursor });
    for (const record of page.records) {
      if (seen.has(record.key)) continue; // a SCAN may return a key twice
      seen.add(record.key);
      counts[record.state]++;
      if (record.state === "in_progress" && (oldest === undefined || record.claimedAt < oldest.claimedAt))
        oldest = record;
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  const total = counts.in_progress + counts.completed;
  if (invocation.json) {
    const oldestInProgress = oldest && { key: oldest.key, claimedAt: oldest.claimedAt };
    io.stdout(
      json({
        inProgress: counts.in_progress,
        completed: counts.completed,
        total,
        ...(oldestInProgress && { oldestInProgress }),
      }),
    );
    return EXIT.OK;
  }
  const rows = [
    ["in_progress", String(counts.in_progress)],
    ["completed", String(counts.completed)],
    ["total", String(total)],
  ];
  if (oldest) {
    rows.push([
      "oldest in progress",
      `${printable(oldest.key)} (claimed ${formatDuration(io.now() - oldest.claimedAt)} ago)`,
    ]);
  }
  io.stdout(`${table(rows)}\n`);
  return EXIT.OK;
};
