// The chaos checker: reads the workers' ledgers, the client log and the store's final records and
// lists every broken promise, per key. Pure: no I/O, so it can be tested on hand-made histories.
import { decodeStoredResponse, type IdempotencyRecord } from "@idemkit/core";
import { decodeRunOutcome } from "../model/outcome.js";
import type { LedgerEntry } from "./worker.js";

/** POST /orders (HTTP), /jobs (`run()`), /tx (HTTP in transactional mode). */
export type Route = "orders" | "jobs" | "tx";

export interface ClientEntry {
  key: string;
  storedKey: string;
  route: Route;
  /** 0 when the request failed before an answer (refused, reset, timed out). */
  status: number;
  body: string;
  replayed: boolean;
  t: number;
  /** The closing check request, sent after every fault has healed. */
  probe?: boolean;
}

export interface CheckInput {
  /** Each worker's ledger, in the order it was written. */
  ledgers: LedgerEntry[][];
  client: ClientEntry[];
  /** The store's live record of every key, read after the run. */
  final: Map<string, IdempotencyRecord | undefined>;
  /** Longest acceptable run of 409 answers for one key (lease + the longest fault + slack). */
  maxConflictStreakMs: number;
}

export interface CheckResult {
  keys: number;
  requests: number;
  executions: number;
  takeovers: number;
  /** 2xx answers from an owner whose completion was refused or failed (see docs/guarantees.md). */
  unackedAnswers: number;
  violations: string[];
}

/** The one stored outcome of a key, as the text a client would have been answered with. */
export function storedText(route: Route, record: IdempotencyRecord | undefined): string | undefined {
  if (record?.state !== "completed") return undefined;
  if (route !== "jobs") return new TextDecoder().decode(decodeStoredResponse(record.result).body);
  return JSON.stringify(decodeRunOutcome(record.result));
}

export function check(input: CheckInput): CheckResult {
  const violations: string[] = [];
  const execs = new Map<string, { fence: number; execId: string; w: string; takeover: boolean }[]>();
  const completedFences = new Map<string, Set<number>>();
  const execById = new Map<string, { key: string; fence: number }>();

  for (const ledger of input.ledgers) {
    const claimed = new Set<string>();
    const takeovers = new Set<string>();
    for (const entry of ledger) {
      const id = "fence" in entry ? `${entry.key}#${entry.fence}` : "";
      if (entry.e === "claimed") claimed.add(id);
      if (entry.e === "takeover") takeovers.add(id);
      if (entry.e === "completed") {
        const set = completedFences.get(entry.key) ?? new Set<number>();
        set.add(entry.fence);
        completedFences.set(entry.key, set);
      }
      if (entry.e === "exec") {
        // No handler runs without a successful claim, in that process, before it.
        if (!claimed.has(id))
          violations.push(`${entry.key}: execution ${entry.execId} without a claim of fence ${entry.fence}`);
        const list = execs.get(entry.key) ?? [];
        list.push({ fence: entry.fence, execId: entry.execId, w: entry.w, takeover: takeovers.has(id) });
        execs.set(entry.key, list);
        execById.set(entry.execId, { key: entry.key, fence: entry.fence });
      }
    }
  }

  let executions = 0;
  let takeovers = 0;
  for (const [key, list] of execs) {
    executions += list.length;
    const sorted = [...list].sort((a, b) => a.fence - b.fence);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as (typeof sorted)[number];
      const cur = sorted[i] as (typeof sorted)[number];
      // Executions = 1 + takeovers, each takeover with a higher fence.
      if (cur.fence === prev.fence)
        violations.push(`${key}: two executions with fence ${cur.fence} (${prev.execId}, ${cur.execId})`);
      else if (!cur.takeover)
        violations.push(`${key}: execution ${cur.execId} (fence ${cur.fence}) is not a takeover`);
      else takeovers++;
    }
    // Nothing runs again once a completion was acknowledged (retention outlasts the run).
    const done = completedFences.get(key);
    if (done) {
      const first = Math.min(...done);
      for (const e of list)
        if (e.fence > first)
          violations.push(`${key}: execution ${e.execId} (fence ${e.fence}) after fence ${first} completed`);
    }
  }

  const routes = new Map<string, Route>();
  for (const c of input.client) routes.set(c.storedKey, c.route);

  // Nothing acknowledged was lost: every completion the store confirmed is the final record.
  for (const [key, fences] of completedFences) {
    const record = input.final.get(key);
    for (const fence of fences) {
      if (record?.state !== "completed" || record.fence !== fence)
        violations.push(
          `${key}: completion of fence ${fence} was acknowledged but the store now has ${describe(record)}`,
        );
    }
  }

  let unackedAnswers = 0;
  const streaks = new Map<string, number>();
  const byKey = new Map<string, ClientEntry[]>();
  for (const c of input.client) byKey.set(c.storedKey, [...(byKey.get(c.storedKey) ?? []), c]);
  for (const [key, entries] of byKey) {
    const stored = storedText(routes.get(key) ?? "orders", input.final.get(key));
    const record = input.final.get(key);
    // Every key ends completed: a key still in progress now has no live owner (workers are idle).
    if (record?.state !== "completed") violations.push(`${key}: ends ${describe(record)}, not completed`);
    let streakStart: number | undefined;
    for (const c of [...entries].sort((a, b) => a.t - b.t)) {
      if (c.status === 409) streakStart ??= c.t;
      else if (c.status !== 0 && c.status !== 503) {
        if (streakStart !== undefined) streaks.set(key, Math.max(streaks.get(key) ?? 0, c.t - streakStart));
        streakStart = undefined;
      }
      if (c.status === 0 || c.status === 409 || c.status === 503) continue;
      if (c.status < 200 || c.status > 299) {
        violations.push(`${key}: unexpected status ${c.status}: ${c.body.slice(0, 120)}`);
        continue;
      }
      if (c.replayed) {
        if (c.body !== stored) violations.push(`${key}: replay ${c.body} differs from the stored ${stored}`);
        continue;
      }
      const answer = JSON.parse(c.body) as { fence: number; execId: string };
      const exec = execById.get(answer.execId);
      if (!exec || exec.key !== key || exec.fence !== answer.fence) {
        violations.push(`${key}: answer from execution ${answer.execId} that no ledger recorded`);
      } else if (c.body === stored) {
        // the one stored outcome
      } else if (completedFences.get(key)?.has(answer.fence)) {
        violations.push(`${key}: acknowledged answer ${c.body} was replaced by ${stored}`);
      } else {
        unackedAnswers++;
      }
    }
    if (streakStart !== undefined) violations.push(`${key}: still answered 409 at the end of the run`);
  }
  for (const [key, ms] of streaks) {
    if (ms > input.maxConflictStreakMs)
      violations.push(
        `${key}: in progress (409) for ${ms} ms, past lease + tolerance (${input.maxConflictStreakMs} ms)`,
      );
  }

  return {
    keys: byKey.size,
    requests: input.client.length,
    executions,
    takeovers,
    unackedAnswers,
    violations,
  };
}

function describe(record: IdempotencyRecord | undefined): string {
  return record ? `${record.state} with fence ${record.fence}` : "no record";
}
