// The connection of a transaction dies mid-work (pg_terminate_backend, idle_in_transaction_session_timeout;
// a failover, a restart or a network reset look the same to the client). Each case runs in a child process
// (test/connection-loss-child.mjs), so that a crash is a failed assertion here, not a dead test runner.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quoteIdentifier } from "./schema.js";
import { databaseUrl, freshTables, newPool, skip, titled, transpiledPackage } from "./test-support.js";

interface Report {
  scenario: string;
  outcome?: {
    resolved?: unknown;
    rejected?: { name?: string; message: string; code?: string; causeCode?: string };
  };
  releasesAfterLoss?: (string | null)[];
  releases: (string | null)[];
  businessRows?: number;
  record?: unknown;
  next?: { acquired?: boolean; committed?: boolean; error?: string };
  status?: number;
  contentType?: string | null;
  body?: string;
  retry?: { status: number; body: string };
  first?: { resolved?: unknown };
}

describe.skipIf(Boolean(skip))(titled("postgres transactional mode when the connection dies"), () => {
  let tables: Awaited<ReturnType<typeof freshTables>>;
  let pool: pg.Pool;
  let business: string;
  let packageDir: string;

  beforeAll(async () => {
    tables = await freshTables("loss");
    pool = newPool({ max: 2 });
    business = `${quoteIdentifier(tables.names.schema)}.business`;
    await pool.query(`CREATE TABLE ${business} (id text PRIMARY KEY)`);
    packageDir = await transpiledPackage();
  });
  afterAll(async () => {
    await pool?.end();
    await tables?.drop();
    if (packageDir) await rm(packageDir, { recursive: true, force: true });
  });

  /** Runs one scenario in a child; fails with the child's stderr when it did not exit cleanly. */
  async function inChild(scenario: string, key = `${scenario}:${randomUUID()}`): Promise<Report> {
    const fixture = fileURLToPath(new URL("../test/connection-loss-child.mjs", import.meta.url));
    const args = [
      pathToFileURL(join(packageDir, "index.js")).href,
      databaseUrl,
      JSON.stringify(tables.names),
      business,
      scenario,
      key,
    ];
    const child = spawn(process.execPath, [fixture, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 50_000);
    const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    expect({ code, signal, stderr: stderr.slice(0, 1500) }, "the process died").toEqual({
      code: 0,
      signal: null,
      stderr: "",
    });
    const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(`no RESULT line: ${stdout}`);
    return JSON.parse(line.slice("RESULT ".length)) as Report;
  }

  /** What every case must show: a rejection, nothing committed, the client discarded, the next one works. */
  function expectLostAndRecovered(report: Report) {
    expect(report.outcome?.rejected, "the caller gets a rejection").toBeDefined();
    expect(report.businessRows, "no business row committed").toBe(0);
    expect(report.record, "no key row committed").toBeNull();
    // The client went back to the pool as broken (release(err)), so it was destroyed, not reused.
    expect(report.releasesAfterLoss).toHaveLength(1);
    expect(report.releasesAfterLoss?.[0]).toEqual(expect.any(String));
    expect(report.next, "the next transaction on the same pool runs and commits").toEqual({
      acquired: true,
      committed: true,
    });
  }

  it("pg_terminate_backend while the work awaits something outside the database: a rejection, no crash, nothing committed", {
    timeout: 60_000,
  }, async () => {
    const report = await inChild("terminate-awaiting");
    expectLostAndRecovered(report);
    expect(report.outcome?.rejected).toMatchObject({ name: "ConnectionLostError", causeCode: "57P01" });
    expect(report.outcome?.rejected?.message).toMatch(/connection was lost.*nothing was committed/);
  });

  it("pg_terminate_backend during the work's own query: a ConnectionLostError (the query's error its cause), no crash, nothing committed", {
    timeout: 60_000,
  }, async () => {
    const report = await inChild("terminate-query");
    expectLostAndRecovered(report);
    // The work threw because its query failed with the connection: the transaction is gone, which is
    // what the caller learns (through core: 503, not the 500 of a thrown route).
    expect(report.outcome?.rejected).toMatchObject({ name: "ConnectionLostError", causeCode: "57P01" });
  });

  it("idle_in_transaction_session_timeout firing while the work awaits: a rejection, no crash, nothing committed", {
    timeout: 60_000,
  }, async () => {
    const report = await inChild("idle-timeout");
    expectLostAndRecovered(report);
    expect(report.outcome?.rejected).toMatchObject({ name: "ConnectionLostError", causeCode: "25P03" });
  });

  it("pg_terminate_backend while a duplicate's claim waits on the key's lock: a ConnectionLostError, no crash; the first commits", {
    timeout: 60_000,
  }, async () => {
    const report = await inChild("terminate-waiting-claim");
    expect(report.outcome?.rejected).toMatchObject({ name: "ConnectionLostError" });
    expect(report.releasesAfterLoss).toEqual([expect.any(String)]);
    expect(report.first?.resolved).toMatchObject({ acquired: true, committed: true });
    expect(report.record).toMatchObject({ state: "completed", fence: 1 });
    expect(report.next).toEqual({ acquired: true, committed: true });
  });

  it("lease mode (pool.query, which listens for its client's errors itself): a terminated claim rejects, no crash", {
    timeout: 60_000,
  }, async () => {
    const report = await inChild("lease-terminate-waiting-claim");
    expect(report.outcome?.rejected).toMatchObject({ code: "57P01" });
    expect(report.releasesAfterLoss).toEqual([expect.any(String)]);
    expect(report.first?.resolved).toMatchObject({ acquired: true, committed: true });
    expect(report.next).toEqual({ acquired: true, committed: true });
  });

  it("through idem.transactional(store).wrap: 503 store-unavailable, and the retry runs on a fresh connection", {
    timeout: 60_000,
  }, async () => {
    const key = `http:${randomUUID()}`;
    const report = await inChild("http-terminate-awaiting", key);
    expect(report.status).toBe(503);
    expect(report.contentType).toMatch(/application\/problem\+json/);
    expect(JSON.parse(report.body ?? "{}")).toMatchObject({ type: "urn:idemkit:problem:store-unavailable" });
    expect(report.retry?.status).toBe(201);
    expect(JSON.parse(report.retry?.body ?? "{}")).toEqual({ id: key, retried: true });
    expect(report.releases[0]).toEqual(expect.any(String));
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${business} WHERE id = $1`, [key]);
    expect(rows[0].n).toBe(1);
  });
});
