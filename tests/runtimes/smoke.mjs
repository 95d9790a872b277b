// A smoke test of @idemkit/core's Web handler, plain JavaScript for any runtime with Web Request and
// Response: Node, Bun, Deno. Run by tests/runtimes/matrix.test.ts as `<runtime> smoke.mjs <core entry>
// [wrap|hono]`, the entry being the built ESM of @idemkit/core (packages/core/dist/esm/index.js). The
// handler runs behind `idem.wrap` (the default), or with `hono` as a Hono app's route behind
// @idemkit/hono's middleware (both imported by name, from the tests workspace's node_modules; the
// package must be built). It needs no permission (Deno runs it with none). A request runs the handler,
// a retry is replayed, a retry while the first is still running gets 409, the key reused with another
// body gets 422, and `run()`'s duplicate in flight gets a ConflictError with a stack string. Prints
// `SMOKE OK <runtime> <version> (<wrap|hono>)` and exits 0, or prints what failed and exits 1.
const [entry, through = "wrap"] = globalThis.Deno?.args ?? globalThis.process?.argv.slice(2) ?? [];
if (!entry || !["wrap", "hono"].includes(through))
  throw new Error("usage: smoke.mjs <path of @idemkit/core's dist/esm/index.js> [wrap|hono]");
const entryUrl = /^[a-z]+:/i.test(entry) ? entry : new URL(entry, `file://${cwd()}/`).href;
const { ConflictError, createIdempotency, createMemoryStore, REPLAYED_HEADER } = await import(entryUrl);

function cwd() {
  return globalThis.Deno ? globalThis.Deno.cwd() : globalThis.process.cwd();
}

function runtime() {
  if (globalThis.Deno) return `deno ${globalThis.Deno.version.deno}`;
  if (globalThis.Bun) return `bun ${globalThis.Bun.version}`;
  return `node ${globalThis.process.version}`;
}

function check(condition, what, actual) {
  if (!condition) throw new Error(`${what}${actual === undefined ? "" : `: got ${JSON.stringify(actual)}`}`);
}

let runs = 0;
const gates = new Map();
// An order whose `hold` is set waits until the test lets it go: a second request meanwhile sees 409.
async function placeOrder(order) {
  runs++;
  if (order.hold) await new Promise((resolve) => gates.set(order.id, resolve));
  return { id: order.id, run: runs };
}
const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
const handle = through === "hono" ? await honoApp(idem) : idem.wrap(webHandler);

async function webHandler(request) {
  const order = await placeOrder(await request.json());
  return Response.json(order, { status: 201, headers: { "x-order": order.id } });
}

/** The same route in a Hono app, behind @idemkit/hono: `app.fetch` is what Bun and Deno serve. */
async function honoApp(instance) {
  const [{ Hono }, { idempotency }] = await Promise.all([import("hono"), import("@idemkit/hono")]);
  const app = new Hono();
  app.use("/orders", idempotency(instance));
  app.post("/orders", async (c) => {
    check(c.get("idempotency").fence >= 1, "hono: the route sees its fence", c.get("idempotency"));
    const order = await placeOrder(await c.req.json());
    return c.json(order, 201, { "x-order": order.id });
  });
  return (request) => app.fetch(request);
}

const post = (key, body) =>
  handle(
    new Request("http://smoke.test/orders", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(body),
    }),
  );

// 1. A request: the handler runs.
const first = await post("order-1", { id: "o1" });
const firstBody = await first.text();
check(first.status === 201, "first request: 201", first.status);
check(runs === 1, "first request: the handler ran once", runs);
check(first.headers.get(REPLAYED_HEADER) === null, "first request: not marked replayed");

// 2. A retry: replayed, the handler not run again.
const replay = await post("order-1", { id: "o1" });
check(replay.status === 201, "replay: the stored 201", replay.status);
check((await replay.text()) === firstBody, "replay: the stored body");
check(replay.headers.get("x-order") === "o1", "replay: the stored header", replay.headers.get("x-order"));
check(
  replay.headers.get(REPLAYED_HEADER) === "true",
  "replay: marked replayed",
  replay.headers.get(REPLAYED_HEADER),
);
check(runs === 1, "replay: the handler did not run again", runs);

// 3. A retry while the first is still running: 409, with Retry-After.
const running = post("order-2", { id: "o2", hold: true });
for (let i = 0; i < 200 && !gates.has("o2"); i++) await new Promise((resolve) => setTimeout(resolve, 5));
check(gates.has("o2"), "in flight: the held handler started");
const conflict = await post("order-2", { id: "o2", hold: true });
check(conflict.status === 409, "retry in flight: 409", conflict.status);
check(conflict.headers.get("retry-after") !== null, "retry in flight: Retry-After");
await conflict.text();
gates.get("o2")();
const finished = await running;
check(finished.status === 201, "the held request, let go: 201", finished.status);
await finished.text();
check(runs === 2, "in flight: the handler ran once for order-2", runs);

// 4. The key reused with another body: 422, the handler not run.
const reused = await post("order-1", { id: "another" });
check(reused.status === 422, "key reused with another body: 422", reused.status);
const problem = await reused.json();
check(typeof problem.title === "string", "key reused: a problem body", problem);
check(runs === 2, "key reused: the handler did not run", runs);

// 5. `run()`'s duplicate in flight: a ConflictError made without frames, its stack still a string (a
// runtime that captures none at limit 0 gives it no stack at all), and Error.stackTraceLimit as it was.
const limitBefore = Error.stackTraceLimit;
let letGo;
const firstJob = idem.run({ key: "job-1" }, () => new Promise((resolve) => (letGo = resolve)));
for (let i = 0; i < 200 && !letGo; i++) await new Promise((resolve) => setTimeout(resolve, 5));
const duplicate = await idem.run({ key: "job-1" }, async () => "again").catch((error) => error);
letGo("done");
check((await firstJob) === "done", "run: the first call's value", "not done");
check(duplicate instanceof ConflictError, "run in flight: ConflictError", String(duplicate));
check(duplicate.code === "conflict", "run in flight: code", duplicate.code);
check(typeof duplicate.stack === "string", "run in flight: a stack string", typeof duplicate.stack);
check(
  duplicate.stack.startsWith("ConflictError: "),
  "run in flight: the stack's first line",
  duplicate.stack,
);
check(Error.stackTraceLimit === limitBefore, "Error.stackTraceLimit unchanged", Error.stackTraceLimit);

console.log(`SMOKE OK ${runtime()} (${through})`);
