// The chaos checker for transactional mode (POST /tx on PostgreSQL): the key row, the handler's business
// row and the stored response commit together or not at all, so the promise is exactly once, without
// leases. Pure: the harness reads the ledgers, the client log, the store and the business table.
import type { IdempotencyRecord } from "@idemkit/core";
import { type CheckResult, type ClientEntry, storedText } from "./checker.js";
import type { LedgerEntry } from "./worker.js";

export interface TransactionalCheckInput {
  /** Each worker's ledger: `exec` for every handler run (most rolled back), `tx-lost` for every cut. */
  ledgers: LedgerEntry[][];
  client: ClientEntry[];
  /** The store's live record of every key, read after the run. */
  final: Map<string, IdempotencyRecord | undefined>;
  /** The business rows committed for each stored key, read after the run. */
  committed: Map<string, { execId: string; w: string }[]>;
  /** Workers that exited without the harness killing them. */
  crashes: string[];
}

export interface TransactionalCheckResult extends CheckResult {
  /** Transactions whose connection died under a worker (in its work's query, or seen by the store). */
  cut: number;
}

export function checkTransactional(input: TransactionalCheckInput): TransactionalCheckResult {
  const violations: string[] = [];
  // The process keeps serving: a connection that dies under a transaction never takes a worker down.
  for (const crash of input.crashes) violations.push(`a worker crashed: ${crash}`);

  let executions = 0;
  let cut = 0;
  for (const ledger of input.ledgers) {
    for (const entry of ledger) {
      if (entry.e === "exec") executions++;
      if (entry.e === "tx-lost") cut++;
    }
  }

  const byKey = new Map<string, ClientEntry[]>();
  for (const c of input.client) byKey.set(c.storedKey, [...(byKey.get(c.storedKey) ?? []), c]);
  let unackedAnswers = 0;
  for (const [key, entries] of byKey) {
    const record = input.final.get(key);
    const stored = storedText("tx", record);
    const rows = input.committed.get(key) ?? [];
    if (record?.state !== "completed") {
      violations.push(
        `${key}: ends ${record ? `${record.state} with fence ${record.fence}` : "with no record"}`,
      );
    }
    // Exactly once: one committed business row per key, and it is the one the stored outcome names.
    if (rows.length !== 1) {
      violations.push(
        `${key}: ${rows.length} committed business rows (${rows.map((r) => r.execId).join(", ")})`,
      );
    }
    if (stored !== undefined && rows.length === 1) {
      const execId = (JSON.parse(stored) as { execId?: string }).execId;
      if (execId !== rows[0]?.execId)
        violations.push(`${key}: the stored outcome names ${execId}, the committed row ${rows[0]?.execId}`);
    }
    for (const c of entries) {
      if (c.status === 0 || c.status === 503) continue; // no answer, or a failure that committed nothing
      if (c.status < 200 || c.status > 299) {
        violations.push(`${key}: unexpected status ${c.status}: ${c.body.slice(0, 120)}`);
        continue;
      }
      // A 2xx is sent only after COMMIT: a first answer and every replay are the stored outcome.
      if (c.body !== stored) {
        unackedAnswers++;
        violations.push(`${key}: 2xx ${c.body.slice(0, 120)} is not the stored outcome ${stored}`);
      }
    }
  }
  return {
    keys: byKey.size,
    requests: input.client.length,
    executions,
    takeovers: 0,
    unackedAnswers,
    violations,
    cut,
  };
}
