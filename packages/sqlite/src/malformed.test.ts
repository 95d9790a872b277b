// A row the store cannot read (written by hand, by another program, by a bug) fails its key with a
// store error, at once, and nothing else (issue 13, item 2). Before, a claim of a row whose
// `expires_at` was text looped for ever in synchronous code: the whole process stopped serving.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageDir, transpiledPackage } from "./test-support.js";

interface Outcome {
  ok: boolean;
  value?: unknown;
  message?: string;
}
interface Report {
  store: { label: string; claim: Outcome; get: Outcome; other: Outcome; removed: Outcome; after: Outcome }[];
  core: { first: number; broken: number; fine: number; events: string[] };
}

/** Runs the child with `cases`; fails if it has not reported within `ms` (a hung event loop). */
async function runChild(
  dir: string,
  cases: [string, string, string, string][],
  ms = 20_000,
): Promise<Report> {
  const child = spawn(
    process.execPath,
    [
      join(packageDir, "test", "malformed-child.mjs"),
      pathToFileURL(join(dir, "index.js")).href,
      JSON.stringify(cases),
    ],
    { cwd: packageDir, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  child.stderr.on("data", (chunk) => (err += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const [code, signal] = await once(child, "exit");
  clearTimeout(timer);
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) {
    throw new Error(
      signal === "SIGKILL"
        ? `the child still had not answered after ${ms} ms (its event loop is stuck)\n${err}`
        : `the child exited (${code}) without a result\n${out}\n${err}`,
    );
  }
  return JSON.parse(line.slice("RESULT ".length)) as Report;
}

describe("a row the SQLite store cannot read (issue 13, item 2)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await transpiledPackage();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fails its key with a clear error, in bounded time; other keys work; delete removes it; core answers 503 with a store-error", {
    timeout: 60_000,
  }, async () => {
    const cases: [string, string, string, string][] = [
      ["expires-at-text", "in_progress", "expires_at", "'abc'"],
      ["expires-at-blob", "in_progress", "expires_at", "X'00ff'"],
      ["expires-at-real-inf", "in_progress", "expires_at", "9e999"],
      ["fence-text", "in_progress", "fence", "'one'"],
      ["fence-zero", "in_progress", "fence", "0"],
      ["token-blob", "in_progress", "token", "X'6f'"],
      ["fingerprint-blob", "in_progress", "fingerprint", "X'00'"],
      ["takeover-7", "in_progress", "takeover", "7"],
      ["result-text", "completed", "result", "'not bytes'"],
      ["result-null", "completed", "result", "NULL"],
    ];
    const report = await runChild(dir, cases);
    for (const { label, claim, get, other, removed, after } of report.store) {
      const column = cases.find(([l]) => l === label)![2];
      expect(claim, label).toMatchObject({ ok: false });
      expect(claim.message, label).toMatch(
        new RegExp(`the row of key "bad:${label}" is not an idemkit record \\(${column} is`),
      );
      expect(get, label).toMatchObject({ ok: false });
      expect(other, label).toEqual({ ok: true, value: { acquired: true, fence: 1, takeover: false } });
      expect(removed, label).toMatchObject({ ok: true });
      expect(after, label).toEqual({ ok: true, value: { acquired: true, fence: 1, takeover: false } });
    }
    expect(report.core.first).toBe(201);
    expect(report.core.broken).toBe(503);
    expect(report.core.fine).toBe(201);
    expect(report.core.events).toContain("store-error");
  });
});
