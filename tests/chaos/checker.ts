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
  /**
   * Longest acceptable run of 409 answers for one key per owner it had (lease + the longest fault +
   * slack): a key whose owners were lost to faults twice may wait twice as long.
   */
  maxConflictStreakMs: number;
  /** Workers that exited during the run without the harness killing them. */
  crashes?: string[];
}

export interface CheckResult {
  keys: number;
  requests: number;
  executions: number;
  takeovers: number;
  /**
   * 2xx answers that are not the stored outcome, from an owner whose completion failed with a store
   * error (its outcome unknown: the only exception allowed, see docs/guarantees.md); any other is a
   * violation.
   */
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
  // A worker that dies on its own is a bug, whatever the fault (a killed one is recorded as killed).
  for (const crash of input.crashes ?? []) violations.push(`a worker crashed: ${crash}`);
  const execs = new Map<string, { fence: number; execId: string; w: string; takeover: boolean }[]>();
  const completedFences = new Map<string, Set<number>>();
  const execById = new Map<string, { key: string; fence: number; completionUnknown: boolean }>();

  for (const ledger of input.ledgers) {
    const claimed = new Set<string>();
    const takeovers = new Set<string>();
    // Per key, this worker's executions whose completion has not been heard of yet, oldest first.
    const awaiting = new Map<string, { fence: number; completionUnknown: boolean }[]>();
    const settle = (key: string, fence: number | undefined) => {
      const queue = awaiting.get(key) ?? [];
      const i = fence === undefined ? 0 : queue.findIndex((x) => x.fence === fence);
      return i >= 0 ? queue.splice(i, 1)[0] : undefined;
    };
    for (const entry of ledger) {
      const id = "fence" in entry ? `${entry.key}#${entry.fence}` : "";
      if (entry.e === "claimed") claimed.add(id);
      if (entry.e === "takeover") takeovers.add(id);
      if (entry.e === "completed") {
        const set = completedFences.get(entry.key) ?? new Set<number>();
        set.add(entry.fence);
        completedFences.set(entry.key, set);
        settle(entry.key, entry.fence);
      }
      if (entry.e === "lease-lost" && entry.phase === "complete") settle(entry.key, entry.fence);
      // The completion of the oldest execution still waiting for one failed: its outcome is unknown.
      if (entry.e === "store-error" && entry.op === "complete") {
        const exec = settle(entry.key, undefined);
        if (exec) exec.completionUnknown = true;
      }
      if (entry.e === "exec") {
        // No handler runs without a successful claim, in that process, before it.
        if (!claimed.has(id))
          violations.push(`${entry.key}: execution ${entry.execId} without a claim of fence ${entry.fence}`);
        const list = execs.get(entry.key) ?? [];
        list.push({ fence: entry.fence, execId: entry.execId, w: entry.w, takeover: takeovers.has(id) });
        execs.set(entry.key, list);
        const exec = { key: entry.key, fence: entry.fence, completionUnknown: false };
        execById.set(entry.execId, exec);
        awaiting.set(entry.key, [...(awaiting.get(entry.key) ?? []), exec]);
      }
    }
  }

  let executions = 0;
  let takeovers = 0;
  const executionsOf = new Map<string, number>();
  for (const [key, list] of execs) {
    executions += list.length;
    executionsOf.set(key, list.length);
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
      } else if (exec.completionUnknown) {
        // Its completion failed with a store error: the owner could not know it was superseded.
        unackedAnswers++;
      } else {
        // Superseded work answered 2xx: its completion was refused (or never reported), yet its
        // client holds an answer the key's record and every retry contradict.
        violations.push(
          `${key}: 2xx from execution ${answer.execId} (fence ${answer.fence}) is not the stored outcome ${stored ?? "(none)"}, and its completion failed with no store error`,
        );
      }
    }
    if (streakStart !== undefined) violations.push(`${key}: still answered 409 at the end of the run`);
  }
  for (const [key, ms] of streaks) {
    // One allowance per owner the key had: each owner lost to a fault (killed, paused, cut off) holds
    // it for up to a lease before the next one takes over, and faults can strike its successors too.
    const owners = Math.max(1, executionsOf.get(key) ?? 0);
    const bound = owners * input.maxConflictStreakMs;
    if (ms > bound)
      violations.push(
        `${key}: in progress (409) for ${ms} ms, past ${owners} × (lease + tolerance) (${bound} ms)`,
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
