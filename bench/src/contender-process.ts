/**
 * One contender of a store in a process of its own, started by `runsApart` (runner.ts):
 * `contender-process.ts <store> <run id> <contender label>`. Sets the store up as the bench does, keeps
 * the one contender, then runs what it is sent, one call at a time, and tears the store down on `close`.
 */
import type { StoreName } from "./contenders/types.js";
import { type Answer, type Call, runsHere } from "./runner.js";
import { setupStore } from "./setup.js";

const [store, runId, label] = process.argv.slice(2) as [StoreName, string, string];
const send = (answer: Answer) => new Promise<void>((resolve) => process.send!(answer, () => resolve()));

const setup = await setupStore(store, runId);
const contender =
  typeof setup === "string" ? undefined : setup.contenders.find((c) => (c.label ?? c.name) === label);
if (typeof setup === "string" || contender === undefined) {
  if (typeof setup !== "string") await setup.teardown();
  await send({ failed: typeof setup === "string" ? setup : `no contender ${label} in its own process` });
  process.exit(1);
}
const runner = runsHere(contender);
const { teardown } = setup;
const said = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error));

/** Tears the store down (its tables, files, keys), at most `TEARDOWN_MS`, then ends this process. */
async function end(code: number, answer?: (teardownError?: string) => Answer): Promise<never> {
  let failed: string | undefined;
  const cap = new Promise<void>((resolve) => setTimeout(resolve, TEARDOWN_MS).unref());
  const tornDown = teardown().catch((error: unknown) => {
    failed = said(error);
  });
  await Promise.race([tornDown, cap]);
  if (answer && process.connected) await send(answer(failed));
  process.exit(code);
}
const TEARDOWN_MS = 10_000;

// The bench's process is gone (ended, killed): its clients would keep this one alive, unasked.
process.on("disconnect", () => void end(1));

process.on("message", async ({ id, op, args }: Call) => {
  if (op === "close") return end(0, (error) => (error === undefined ? { id } : { id, error }));
  try {
    const run = runner[op] as (...a: unknown[]) => Promise<unknown>;
    // JSON has no `undefined`: an argument left out arrives as null.
    await send({ id, result: await run(...args.map((a) => (a === null ? undefined : a))) });
  } catch (error) {
    await send({ id, error: said(error) });
  }
});
await send({ ready: true });
