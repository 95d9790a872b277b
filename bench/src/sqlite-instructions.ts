/**
 * A SQLite new key's work on the store's side, counted in instructions: `node --import tsx
 * src/sqlite-instructions.ts [other checkout] [requests]` runs a process of its own under valgrind's
 * callgrind for each contender, once with no requests and once with `requests` claims and completions of
 * fresh keys, one at a time, and prints the difference per request: the hand-written baseline's two
 * statements, then the store's `claim` and `complete` of each build given (the other checkout's, if
 * any, then this one's). No engine: this counts the store and better-sqlite3. Instructions, not seconds:
 * the same run after run, where timed runs here swing by ±10%. Needs valgrind; the other checkout must
 * be built (`pnpm build`).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as thisSqlite from "@idemkit/sqlite";
import { baselineStatements, benchDatabase } from "./contenders/sqlite.js";
import { packageOf } from "./other-build.js";

type Request = (key: string, token: string) => unknown;
const FINGERPRINT = "a".repeat(64); // a sha256 in hex, as core's
const OUTCOME = JSON.stringify({ id: "k", status: "created" });

/** The baseline's statements (contenders/sqlite.ts), without its fingerprint and JSON steps. */
function baseline(): Request {
  const { claim, complete } = baselineStatements(benchDatabase());
  return (key) => {
    const now = Date.now();
    claim.get(key, FINGERPRINT, now + 30_000, now);
    complete.run(OUTCOME, Date.now() + 600_000, key);
  };
}

function store(sqlite: typeof thisSqlite): Request {
  const backend = sqlite.createSqliteStore({ database: benchDatabase() });
  const result = new TextEncoder().encode(OUTCOME); // as core hands it over: a Uint8Array of its own
  return async (key, token) => {
    await backend.claim(key, { token, fingerprint: FINGERPRINT, leaseMs: 30_000, retentionMs: 600_000 });
    await backend.complete(key, token, { result, retentionMs: 600_000 });
  };
}

const [first, second, third] = process.argv.slice(2);
if (first === "--child") {
  const contender = second === "baseline" ? baseline() : store(second === "this" ? thisSqlite : await load());
  // The same keys and tokens in every process, so every table grows the same B-tree.
  let seed = 12_345;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
  for (let i = 0; i < Number(third); i++)
    await contender(`idem:run::k${i}:${next()}`, `${next()}-0000-4000-8000-${String(i).padStart(12, "0")}`);
} else {
  const other = first !== undefined && !/^\d+$/.test(first) ? first : undefined;
  const requests = Number((other ? second : first) ?? 4000);
  const collected = (contender: string, n: number) => {
    const script = fileURLToPath(import.meta.url);
    const args = ["--tool=callgrind", "--callgrind-out-file=/dev/null", process.execPath, "--import", "tsx"];
    const { stderr, status } = spawnSync(
      "valgrind",
      [...args, script, "--child", contender, String(n), other ?? ""],
      {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (status !== 0)
      throw new Error(`${contender} under callgrind exited with ${status}: ${stderr.slice(-2000)}`);
    return Number(/Collected : (\d+)/.exec(stderr)?.[1] ?? Number.NaN);
  };
  for (const contender of ["baseline", ...(other ? ["other"] : []), "this"]) {
    const perRequest = (collected(contender, requests) - collected(contender, 0)) / requests;
    console.log(`${contender.padEnd(8)} ${Math.round(perRequest)} instructions a new key (claim + complete)`);
  }
}

async function load(): Promise<typeof thisSqlite> {
  return (await packageOf(process.argv[5]!, "sqlite")) as typeof thisSqlite;
}
