import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { spareLoopbackPort } from "./spare-port.js";

const exampleDir = join(dirname(fileURLToPath(import.meta.url)), "../examples/orders-api");
const tsx = join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist/cli.mjs");

function runDemo(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [tsx, "src/demo.ts", ...args], {
    cwd: exampleDir,
    env: { ...process.env, ...env },
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { child, exit, output: () => output };
}

// Each case runs the demo's own processes; with the rest of the suite beside it on two cores the storm
// took 15–30 s in CI, so the cases get more than vitest's default 30 s (nothing here times anything).
describe("the orders demo (examples/orders-api)", { timeout: 120_000 }, () => {
  it("survives a storm of retries with 0 duplicates and one order per successful operation", async () => {
    const demo = runDemo(["--operations", "150", "--seed", "7"]);
    expect(await demo.exit).toBe(0);
    const lines = demo.output().trim().split("\n");
    const last = lines.at(-1)!;
    const match =
      /^demo: (\d+) operations, (\d+) requests, (\d+) executions, (\d+) orders, (\d+) duplicates$/.exec(last);
    expect(match, last).not.toBeNull();
    const [, operations, requests, executions, orders, duplicates] = match!.map(Number);
    expect(operations).toBe(150);
    expect(duplicates).toBe(0);
    expect(requests).toBeGreaterThan(operations!);
    expect(executions).toBeGreaterThanOrEqual(orders!);
    const succeeded = /operations that succeeded: (\d+)/.exec(demo.output());
    expect(Number(succeeded?.[1])).toBe(orders);
    expect(demo.output()).toMatch(/operation\s+ops\s+ok\s+requests/);
  });

  it("--serve keeps the API up on PORT for curl-style requests", async () => {
    const port = await spareLoopbackPort();
    const demo = runDemo(["--serve"], { PORT: String(port) });
    try {
      // Up to 60 s to start: beside the rest of the suite on two cores it once took more than 10.
      for (let i = 0; i < 600 && !demo.output().includes("orders API on"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(demo.output(), "the demo never said it was serving").toContain("orders API on");
      const base = `http://127.0.0.1:${port}`;
      const create = () =>
        fetch(`${base}/orders`, {
          method: "POST",
          headers: { "idempotency-key": '"curl-1"', "content-type": "application/json" },
          body: JSON.stringify({ item: "book", quantity: 2 }),
        });
      const first = await create();
      expect(first.status).toBe(201);
      const order = await first.json();
      expect(order).toMatchObject({ item: "book", quantity: 2 });
      expect(typeof order.id).toBe("string");
      const retry = await create();
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(await retry.json()).toEqual(order);
      const list = await (await fetch(`${base}/orders`)).json();
      expect(list).toEqual([order]);
      const noKey = await fetch(`${base}/orders`, { method: "POST", body: "{}" });
      expect(noKey.status).toBe(400);
    } finally {
      demo.child.kill();
    }
  });
});
