/**
 * The main job: start the orders API on SQLite and drive a realistic storm of retried client
 * operations at it over real HTTP, then prove that no order was created twice.
 *
 *   pnpm demo                 run the storm and print the summary
 *   pnpm demo --serve         keep the server running on PORT (default 3000) for curl; each order
 *                             takes --work-ms (default 3000) so a second request in time sees 409
 *   pnpm demo --operations N  storm size (default 1000); --seed S for another random storm
 */
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createOrdersApp, type Order } from "./app.js";
import { serve } from "./server.js";

const { values: args } = parseArgs({
  options: {
    serve: { type: "boolean", default: false },
    operations: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    seed: { type: "string", default: "42" },
    "work-ms": { type: "string", default: "3000" },
    data: { type: "string" },
  },
});

// A seeded generator, so a storm can be replayed exactly.
function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(Number(args.seed));
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ctrl-C, Ctrl-D, Enter (CR or LF), q. */
const STOP_KEYS = new Set([0x03, 0x04, 0x0d, 0x0a, 0x71]);

const dataDir = args.data ?? join(tmpdir(), `idemkit-orders-demo-${process.pid}`);
mkdirSync(dataDir, { recursive: true });
const file = join(dataDir, "orders.db");

if (args.serve) {
  const workMs = Number(args["work-ms"]);
  const app = createOrdersApp({ file, workMs: () => workMs });
  const port = Number(process.env.PORT ?? 3000);
  const server = await serve(app, port);
  console.log(`orders API on http://127.0.0.1:${port} (SQLite file ${file}); each order takes ${workMs} ms`);
  console.log(`try: curl -i -X POST http://127.0.0.1:${port}/orders -H 'Idempotency-Key: "k1"' \\`);
  console.log(`       -H 'content-type: application/json' -d '{"item":"book","quantity":1}'`);
  console.log(
    "     the same again within the work time: 409 (in progress); after it: the stored 201, replayed;",
  );
  console.log(
    `     another body with the same key: 422; curl http://127.0.0.1:${port}/orders lists the orders.`,
  );
  console.log("Ctrl-C, Enter or q stops the server and removes the SQLite file.");
  const stop = () => {
    server.closeAllConnections();
    server.close();
    app.close();
    if (args.data === undefined) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  onStop(stop);
} else {
  // Stopped midway: the storm's SQLite file goes too.
  const stopListening = onStop(() => {
    rmSync(dataDir, { recursive: true, force: true });
    console.log("\ndemo stopped before the end; its SQLite file is removed");
    process.exit(0);
  });
  process.exitCode = await storm();
  stopListening();
}

/**
 * Calls `stop` on SIGINT or SIGTERM and, at a terminal, on Ctrl-C, Ctrl-D, Enter or q. Keys are read
 * raw there, so Ctrl-C arrives as a key instead of a SIGINT to the whole process group: pnpm, which
 * would get the signal too, would report the script as failed (130). Returns what stops listening.
 */
function onStop(stop: () => void): () => void {
  const tty = process.stdin.isTTY;
  const onKey = (key: Buffer) => {
    if (!STOP_KEYS.has(key[0]!)) return;
    stopListening();
    stop();
  };
  const stopListening = () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    if (!tty) return;
    process.stdin.off("data", onKey);
    process.stdin.setRawMode(false);
    process.stdin.pause();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.on("data", onKey);
  }
  return stopListening;
}

type Kind = "lost-response" | "duplicate-burst" | "plain" | "reused-key" | "missing-key";

interface Tally {
  operations: number;
  succeeded: number;
  requests: number;
  lost: number;
  replays: number;
  conflicts: number;
  unavailable: number;
  mismatches: number;
  missingKey: number;
}

async function storm(): Promise<number> {
  rmSync(file, { force: true });
  const app = createOrdersApp({
    file,
    workMs: () => between(2, 30),
    failTransiently: () => random() < 0.05,
  });
  const server = await serve(app, 0);
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;

  const total = Number(args.operations);
  const concurrency = Number(args.concurrency);
  console.log(
    `${total} operations against ${base} (SQLite file ${file}), ${concurrency} at a time; Ctrl-C stops`,
  );
  const tallies = new Map<Kind, Tally>();
  const tally = (kind: Kind) => {
    let t = tallies.get(kind);
    if (!t) {
      t = {
        operations: 0,
        succeeded: 0,
        requests: 0,
        lost: 0,
        replays: 0,
        conflicts: 0,
        unavailable: 0,
        mismatches: 0,
        missingKey: 0,
      };
      tallies.set(kind, t);
    }
    return t;
  };
  const completedKeys: { key: string; body: string }[] = [];
  let inconsistentAnswers = 0;
  let done = 0;

  async function post(
    t: Tally,
    key: string | null,
    body: string,
    abortAfterMs?: number,
  ): Promise<Response | "lost"> {
    t.requests++;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (key !== null) headers["idempotency-key"] = `"${key}"`;
    const signal = abortAfterMs === undefined ? undefined : AbortSignal.timeout(abortAfterMs);
    try {
      const response = await fetch(`${base}/orders`, { method: "POST", headers, body, signal });
      await response.clone().arrayBuffer(); // the response is lost if the body is cut off too
      return response;
    } catch {
      t.lost++;
      return "lost";
    }
  }

  /** A well-behaved client: same key on every retry until a final answer. */
  async function untilFinal(
    t: Tally,
    key: string,
    body: string,
    firstAbortMs?: number,
  ): Promise<Order | undefined> {
    let abortAfterMs = firstAbortMs;
    for (let attempt = 0; attempt < 60; attempt++) {
      const response = await post(t, key, body, abortAfterMs);
      abortAfterMs = undefined;
      if (response === "lost") continue; // the server may have done the work: retry with the same key
      if (response.status === 201) {
        if (response.headers.get("idempotent-replayed") === "true") t.replays++;
        return (await response.json()) as Order;
      }
      if (response.status === 409) t.conflicts++;
      else if (response.status === 503) t.unavailable++;
      else return undefined;
      // Retry-After says 1 s; this client backs off faster with jitter to keep the demo short.
      await sleep(between(10, 60));
    }
    return undefined;
  }

  async function operation(index: number): Promise<void> {
    const roll = random();
    const kind: Kind =
      roll < 0.55
        ? "lost-response"
        : roll < 0.75
          ? "duplicate-burst"
          : roll < 0.87
            ? "plain"
            : roll < 0.95 && completedKeys.length > 0
              ? "reused-key"
              : "missing-key";
    const t = tally(kind);
    t.operations++;
    const key = `op-${index}-${Math.floor(random() * 1e9)}`;
    const body = JSON.stringify({ item: `item-${between(1, 20)}`, quantity: between(1, 5), reference: key });
    const answers: (Order | undefined)[] = [];

    if (kind === "lost-response") {
      answers.push(await untilFinal(t, key, body, between(1, 25)));
    } else if (kind === "duplicate-burst") {
      const copies = between(3, 8);
      answers.push(...(await Promise.all(Array.from({ length: copies }, () => untilFinal(t, key, body)))));
    } else if (kind === "plain") {
      answers.push(await untilFinal(t, key, body));
    } else if (kind === "reused-key") {
      // A client bug: an earlier operation's key sent with another body. It must be refused.
      const earlier = completedKeys[between(0, completedKeys.length - 1)]!;
      const response = await post(
        t,
        earlier.key,
        JSON.stringify({ item: "other", quantity: 9, reference: earlier.key }),
      );
      if (response !== "lost" && response.status === 422) t.mismatches++;
    } else {
      const response = await post(t, null, body);
      if (response !== "lost" && response.status === 400) t.missingKey++;
    }

    const orders = answers.filter((a): a is Order => a !== undefined);
    if (orders.length > 0 && orders.length === answers.length) {
      t.succeeded++;
      completedKeys.push({ key, body });
      if (new Set(orders.map((o) => o.id)).size !== 1) inconsistentAnswers++;
    }
    done++;
  }

  const started = performance.now();
  const isTty = process.stdout.isTTY;
  let lastShown = -1;
  const progress = setInterval(() => {
    const requests = [...tallies.values()].reduce((n, t) => n + t.requests, 0);
    const line = `storm: ${done}/${total} operations, ${requests} requests, ${app.stats.executions} executions`;
    if (isTty) process.stdout.write(`\r${line}`);
    else if (Math.floor((done / total) * 4) !== lastShown) {
      lastShown = Math.floor((done / total) * 4);
      console.log(line);
    }
  }, 200);

  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await operation(next++);
    }),
  );
  clearInterval(progress);
  if (isTty) process.stdout.write("\n");
  const seconds = (performance.now() - started) / 1000;

  const orders = (await (await fetch(`${base}/orders`)).json()) as Order[];
  const perReference = new Map<string, number>();
  for (const order of orders)
    perReference.set(order.reference ?? "", (perReference.get(order.reference ?? "") ?? 0) + 1);
  const duplicates = [...perReference.values()].reduce((n, count) => n + count - 1, 0);
  const sum = (pick: (t: Tally) => number) => [...tallies.values()].reduce((n, t) => n + pick(t), 0);
  const succeeded = sum((t) => t.succeeded);
  const requests = sum((t) => t.requests);

  const columns = ["operation", "ops", "ok", "requests", "lost", "replayed", "409", "503", "422", "400"];
  const rows: (string | number)[][] = [...tallies.entries()].map(([kind, t]) => [
    kind,
    t.operations,
    t.succeeded,
    t.requests,
    t.lost,
    t.replays,
    t.conflicts,
    t.unavailable,
    t.mismatches,
    t.missingKey,
  ]);
  rows.push([
    "total",
    sum((t) => t.operations),
    succeeded,
    requests,
    sum((t) => t.lost),
    sum((t) => t.replays),
    sum((t) => t.conflicts),
    sum((t) => t.unavailable),
    sum((t) => t.mismatches),
    sum((t) => t.missingKey),
  ]);
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i]).length)));
  const format = (cells: (string | number)[]) =>
    cells
      .map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!)))
      .join("  ");
  console.log();
  console.log("Every operation is a client retrying with the same key until it gets a final answer:");
  console.log(
    "  lost-response    its first response is cut off (client timeout) after the server may have acted",
  );
  console.log("  duplicate-burst  3-8 copies of one request sent at once");
  console.log("  reused-key       a client bug: an earlier key with another body (must get 422)");
  console.log("  missing-key      no Idempotency-Key at all (must get 400)");
  console.log("  503: the simulated payment provider was down (5% of executions, on purpose): the handler");
  console.log("       answered 503 and created nothing, so the key was released and the retry ran it again.");
  console.log();
  console.log(format(columns));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(format(row));
  console.log();
  console.log(`${seconds.toFixed(1)} s against ${base} (SQLite file ${file})`);
  console.log(
    `handler executions: ${app.stats.executions} = ${orders.length} orders + ${app.stats.simulatedFailures} simulated 503s (each retried; some retries were cut off before their client saw the 503)`,
  );
  console.log(`orders in the database: ${orders.length}; operations that succeeded: ${succeeded}`);
  console.log(`answers that disagreed within one operation: ${inconsistentAnswers}`);

  server.close();
  app.close();
  rmSync(dataDir, { recursive: true, force: true });

  const ok = duplicates === 0 && orders.length === succeeded && inconsistentAnswers === 0;
  if (!ok) console.log("FAILED: an order was duplicated, lost, or answered inconsistently");
  console.log(
    `demo: ${total} operations, ${requests} requests, ${app.stats.executions} executions, ${orders.length} orders, ${duplicates} duplicates`,
  );
  return ok ? 0 : 1;
}
