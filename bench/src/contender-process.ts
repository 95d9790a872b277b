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
// The bench's process is gone (ended, killed): its clients would keep this one alive, unasked.
process.on("disconnect", () => process.exit(1));

const setup = await setupStore(store, runId);
const contender =
  typeof setup === "string" ? undefined : setup.contenders.find((c) => (c.label ?? c.name) === label);
if (typeof setup === "string" || contender === undefined) {
  if (typeof setup !== "string") await setup.teardown();
  await send({ failed: typeof setup === "string" ? setup : `no contender ${label} in its own process` });
  process.exit(1);
}
const runner = runsHere(contender);

process.on("message", async ({ id, op, args }: Call) => {
  try {
    if (op === "close") {
      await setup.teardown();
      await send({ id });
      process.exit(0);
    }
    const run = runner[op] as (...a: unknown[]) => Promise<unknown>;
    await send({ id, result: await run(...args) });
  } catch (error) {
    await send({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
await send({ ready: true });
