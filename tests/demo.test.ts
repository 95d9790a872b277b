import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

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

/**
 * A free loopback port for the demo's server, from 20000–29999: below Linux's ephemeral range
 * (32768–60999), from which the suite's outgoing connections and port-0 servers take theirs, so none of
 * them can take it in the seconds the demo needs to start (one picked in 40000–49999 once was taken:
 * EADDRINUSE).
 */
async function spareLoopbackPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free loopback port in 20000-29999");
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

  // The README's own commands at a terminal: `script` (util-linux) gives them a pseudo-terminal, where
  // Ctrl-C is the byte 0x03 typed on it, as a user's keyboard sends it.
  const haveScript = spawnSync("script", ["--version"]).status === 0;
  const atTerminal = async (command: string) => {
    const port = await spareLoopbackPort();
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: join(exampleDir, "../.."),
      env: { ...process.env, PORT: String(port) },
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const printed = async (text: string) => {
      for (let i = 0; i < 900 && !output.includes(text); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(output).toContain(text);
    };
    return { child, exit, printed, output: () => output };
  };
  const skipped = haveScript ? "" : " (skipped: no script command)";

  it.skipIf(!haveScript)(
    `Ctrl-C at a terminal stops pnpm demo --serve with exit 0 and removes its SQLite file${skipped}`,
    { timeout: 120_000 },
    async () => {
      const demo = await atTerminal("pnpm demo --serve");
      await demo.printed("stops the server");
      const file = /SQLite file (\S+?)\)/.exec(demo.output())?.[1];
      expect(file, demo.output()).toBeDefined();
      expect(existsSync(file!)).toBe(true);
      demo.child.stdin.write("\x03");
      expect(await demo.exit, demo.output()).toBe(0);
      expect(demo.output()).not.toMatch(/ELIFECYCLE|Command failed/);
      expect(existsSync(file!)).toBe(false);
    },
  );

  it.skipIf(!haveScript)(
    `at a terminal, pnpm demo runs to its end and exits; Ctrl-C midway exits 0 and removes its file${skipped}`,
    { timeout: 180_000 },
    async () => {
      const whole = await atTerminal("pnpm demo --operations 200");
      expect(await whole.exit, whole.output()).toBe(0);
      expect(whole.output()).toMatch(/demo: 200 operations, .* 0 duplicates/);

      const stopped = await atTerminal("pnpm demo --operations 100000");
      await stopped.printed("Ctrl-C stops");
      stopped.child.stdin.write("\x03");
      expect(await stopped.exit, stopped.output()).toBe(0);
      expect(stopped.output()).toContain("demo stopped before the end");
      expect(stopped.output()).not.toMatch(/ELIFECYCLE|Command failed/);
      const file = /SQLite file (\S+?)\)/.exec(stopped.output())?.[1];
      expect(file, stopped.output()).toBeDefined();
      expect(existsSync(file!)).toBe(false);
    },
  );
});
