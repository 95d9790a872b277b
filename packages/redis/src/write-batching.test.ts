// The store's commands on an ioredis client leave in few socket writes while others await replies
// (write-batcher.ts), counted at the socket: a lone command goes out at once, concurrent ones
// share writes, and every caller still gets its own reply.
import { randomUUID } from "node:crypto";
import { setTimeout as realTimeout } from "node:timers";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createRedisStore } from "./index.js";
import { createRedisStoreReading } from "./redis-store.js";
import { commandName, probeRedis, REDIS_URL, recordSent } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const claim = (token: string) => ({ token, fingerprint: "f", leaseMs: 10_000, retentionMs: 10_000 });

interface Socket {
  writableCorked: number;
  _write(...args: unknown[]): void;
  _writev(...args: unknown[]): void;
}

describe.skipIf(Boolean(skip))("redis store: socket writes on ioredis", () => {
  let client: Redis;
  let writes = 0;

  beforeAll(async () => {
    client = new Redis(REDIS_URL);
    await client.ping();
    // Count what reaches the socket's handle: one call is one write to the kernel.
    const socket = (client as unknown as { stream: Socket }).stream;
    const { _write, _writev } = socket;
    socket._write = function (...args) {
      writes++;
      return _write.apply(this, args);
    };
    socket._writev = function (...args) {
      writes++;
      return _writev.apply(this, args);
    };
  });
  afterAll(() => client.quit());

  /** `count` claims of `store` sent and left unanswered (the socket's reading paused), writes counted from 0. */
  async function unanswered(store: ReturnType<typeof createRedisStore>, count: number) {
    const stream = (client as unknown as { stream: { pause(): void; resume(): void } }).stream;
    stream.pause();
    const awaited = Array.from({ length: count }, (_, i) => store.claim(`a${i}`, claim("t")));
    await new Promise((resolve) => setImmediate(resolve)); // they have left
    writes = 0;
    return {
      /** Runs `check` while replies are held, then reads them: every claim, these and `sent`, acquired. */
      async answerAfter(check: () => void, sent: Promise<unknown>[]) {
        try {
          check();
        } finally {
          stream.resume();
        }
        for (const result of await Promise.all([...awaited, ...sent]))
          expect(result).toMatchObject({ acquired: true });
      },
    };
  }

  it("a lone command is written at once, the socket left uncorked", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    writes = 0;
    const pending = store.claim("k", claim("t"));
    expect((client as unknown as { stream: Socket }).stream.writableCorked).toBe(0);
    expect(writes).toBe(1);
    expect(await pending).toMatchObject({ acquired: true, fence: 1 });
  });

  it("64 claims sent together while one awaits its reply leave in at most 12 writes; each gets its own answer", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    await store.claim("taken", claim("first"));
    writes = 0;
    const first = store.claim("held", claim("owner"));
    const keys = Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? `new:${i}` : "taken"));
    const results = await Promise.all([first, ...keys.map((key, i) => store.claim(key, claim(`t${i}`)))]);
    // The first is written alone; the 64 others, sent in one tick, in batches of a quarter of those
    // awaiting replies, 4 to 8 (4, 4, 4, 5, 6, 7, then 8: flushed as each batch fills).
    expect(writes).toBeLessThanOrEqual(12);
    expect(results[0]).toMatchObject({ acquired: true, fence: 1 });
    keys.forEach((key, i) => {
      const result = results[i + 1];
      if (key === "taken") {
        expect(result).toMatchObject({ acquired: false, record: { token: "first" } });
      } else expect(result).toMatchObject({ acquired: true, fence: 1 });
    });
  });

  it("with 256 commands awaiting replies, a batch holds an eighth of them: 256 claims leave in at most 21 writes", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    writes = 0;
    const first = store.claim("held", claim("owner"));
    const claims = Array.from({ length: 256 }, (_, i) => store.claim(`k${i}`, claim(`t${i}`)));
    // Batches of 4 to 8 until 64 await replies, then of an eighth of those awaiting (up to 32): 21
    // writes when measured, where a cap of 8 alone wrote 33.
    expect(writes).toBeLessThanOrEqual(21);
    for (const result of await Promise.all([first, ...claims]))
      expect(result).toMatchObject({ acquired: true });
  });

  it("a batch past 8 commands held 1 ms leaves at its next command, even in the tick it was corked in", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    // Nothing is answered: 300 commands await replies, so the cap alone would be 37.
    const held = await unanswered(store, 300);
    const batch = Array.from({ length: 8 }, (_, i) => store.claim(`b${i}`, claim("t")));
    const until = performance.now() + 1.5;
    while (performance.now() < until); // a handler's work, in the same tick
    batch.push(store.claim("b8", claim("t")));
    await held.answerAfter(() => expect(writes).toBe(1), batch); // the nine went out together, not at 37
  });

  it("in the tick it was corked in, a batch leaves at a quarter of the commands awaiting replies: with 16, at its 4th", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const held = await unanswered(store, 12);
    // As replies read together continue, each to its next command, in one tick.
    const batch = Array.from({ length: 4 }, (_, i) => store.claim(`b${i}`, claim("t")));
    // The four left at once: not held for 8, nor until the phase's end.
    await held.answerAfter(() => expect(writes).toBe(1), batch);
  });

  it("a batch corked after a smaller one left in the same tick takes its 1 ms bound from the tick's first batch", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const held = await unanswered(store, 12);
    const batch = Array.from({ length: 4 }, (_, i) => store.claim(`b${i}`, claim("t"))); // leave at the 4th
    const until = performance.now() + 1.5;
    while (performance.now() < until); // a handler's work, in the same tick
    batch.push(store.claim("b4", claim("t"))); // corks a second batch, 1.5 ms after the first
    await new Promise((resolve) => process.nextTick(resolve));
    const writesBefore = writes;
    // In a later tick: the second batch, bound as if one of 8 with the first, leaves before it.
    batch.push(store.claim("b5", claim("t")));
    await held.answerAfter(() => expect([writesBefore, writes]).toEqual([1, 2]), batch);
  });

  it("in later ticks, a batch corked after a smaller one left in the same tick leaves at the 8th command of the two", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const held = await unanswered(store, 12);
    const start = performance.now();
    // Four leave at the 4th; the 5th starts a second batch in the same tick.
    const batch = Array.from({ length: 5 }, (_, i) => store.claim(`b${i}`, claim("t")));
    await new Promise((resolve) => process.nextTick(resolve));
    const seen: number[] = []; // the writes after each command of the later tick
    for (let i = 5; i < 8; i++) {
      batch.push(store.claim(`b${i}`, claim("t")));
      seen.push(writes);
    }
    const elapsed = performance.now() - start;
    await held.answerAfter(() => {
      // As one batch of 8 would: the second leaves with the 8th; on a machine slow enough that 1 ms
      // passed, the wait bound sent it before the 6th.
      if (elapsed < 1) expect(seen).toEqual([1, 1, 2]);
      else expect(seen.at(-1)).toBe(2);
    }, batch);
  });

  it("commands from separate callbacks (HTTP requests read in one pass) still fill a batch of 8", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const held = await unanswered(store, 12);
    // The writes seen after each callback's claim, and when (ms after the first callback began).
    const seen: { writes: number; at: number }[] = [];
    let startedAt = 0;
    const started = await new Promise<Promise<unknown>[]>((resolve) => {
      const claims: Promise<unknown>[] = [];
      for (let i = 0; i < 8; i++)
        setImmediate(() => {
          if (i === 0) startedAt = performance.now();
          claims.push(store.claim(`c${i}`, claim("t")));
          seen.push({ writes, at: performance.now() - startedAt });
          if (i === 7) resolve(claims);
        });
    });
    await held.answerAfter(() => {
      // The eighth fills the batch; before it, only the 1 ms wait bound may flush (a slow machine).
      for (const { writes: before, at } of seen.slice(0, 7))
        if (before > 0) expect(at).toBeGreaterThanOrEqual(1);
      expect(seen.at(-1)?.writes).toBeGreaterThanOrEqual(1);
      if ((seen.at(-1)?.at ?? 0) < 1) expect(seen.map((s) => s.writes)).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    }, started);
  });

  it("a claim that reads first keeps its GETs and script in one write, at the batch's cap too, and joins the batches", async () => {
    const prefix = `idemkit-test:${randomUUID()}:`;
    const store = createRedisStore({ client, prefix });
    const reading = createRedisStoreReading({ client, prefix }, 0);
    await reading.claim("large", claim("owner"));
    await reading.complete("large", "owner", { result: new Uint8Array([1]), retentionMs: 10_000 });
    await reading.claim("large", claim("again")); // a live record: the next claims read first
    // Another file's SCRIPT FLUSH on the shared server makes a script go again as EVAL, in a write of
    // its own: those are counted apart.
    const sent = recordSent(client, commandName.ioredis);
    const evals = () => sent.filter((name) => name === "eval").length;
    writes = 0;
    sent.length = 0;
    const first = store.claim("held", claim("owner"));
    // 3 commands in the batch, then the two GETs (the 4th, with 5 awaiting, is the cap) and the script:
    // one write for the six.
    const three = Array.from({ length: 3 }, (_, i) => store.claim(`new:${i}`, claim(`t${i}`)));
    const replay = reading.claim("large", claim("late"));
    await Promise.all([first, ...three, replay]);
    expect(writes - evals()).toBe(2);
    expect(await replay).toMatchObject({ acquired: false, record: { token: "owner" } });

    // 16 such claims (48 commands) sent while one awaits its reply share batches of 4 to 10 commands.
    writes = 0;
    sent.length = 0;
    const held = store.claim("held2", claim("owner"));
    const replays = Array.from({ length: 16 }, (_, i) => reading.claim("large", claim(`r${i}`)));
    await Promise.all([held, ...replays]);
    expect(writes - evals()).toBeLessThanOrEqual(8);
  });

  it("two stores on one client share its batches: the socket is corked once, and written as one store's", async () => {
    const stores = [1, 2].map(() => createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` }));
    // The writes of 32 claims through one store, then through the two in turn: the same batches.
    const writesOf32 = async (storeOf: (i: number) => (typeof stores)[number], tag: string) => {
      const first = stores[0]!.claim(`held:${tag}`, claim("owner"));
      writes = 0;
      const claims = Array.from({ length: 32 }, (_, i) => storeOf(i).claim(`k${i}:${tag}`, claim("t")));
      expect((client as unknown as { stream: Socket }).stream.writableCorked).toBeLessThanOrEqual(1);
      const written = writes;
      for (const result of await Promise.all([first, ...claims]))
        expect(result).toMatchObject({ acquired: true });
      return written;
    };
    const alone = await writesOf32(() => stores[0]!, "alone");
    expect(alone).toBeLessThanOrEqual(6); // batches of 4 to 8 (the rest leaves at the phase's end)
    expect(await writesOf32((i) => stores[i % 2]!, "shared")).toBe(alone);
  });

  it("a batch still being held when the loop's phase ends is flushed then: nothing waits for a ninth command", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const first = store.claim("a", claim("t"));
    const second = store.claim("b", claim("t"));
    expect((client as unknown as { stream: Socket }).stream.writableCorked).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect((client as unknown as { stream: Socket }).stream.writableCorked).toBe(0);
    expect(await Promise.all([first, second])).toMatchObject([{ acquired: true }, { acquired: true }]);
  });

  it("commands started by separate callbacks of one pass of the loop (two HTTP requests read together) share a write", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    // The first claim's reply is not read until both have started: it stays awaited, so they are held.
    const stream = (client as unknown as { stream: { pause(): void; resume(): void } }).stream;
    stream.pause();
    const first = store.claim("held", claim("owner"));
    writes = 0;
    // Two callbacks queued for the same phase, as two sockets' data are: each starts one claim.
    // The time between the two claims, bounded from below and above (the batch's wait bound is 1 ms).
    const at = { aStart: 0, aEnd: 0, bStart: 0, bEnd: 0 };
    const claims = await new Promise<Promise<unknown>[]>((resolve) => {
      const started: Promise<unknown>[] = [];
      setImmediate(() => {
        at.aStart = performance.now();
        started.push(store.claim("a", claim("t")));
        at.aEnd = performance.now();
      });
      setImmediate(() => {
        at.bStart = performance.now();
        started.push(store.claim("b", claim("t")));
        at.bEnd = performance.now();
        resolve(started);
      });
    }).finally(() => stream.resume());
    expect(await Promise.all([first, ...claims])).toMatchObject([
      { acquired: true },
      { acquired: true },
      { acquired: true },
    ]);
    // Unless a loaded machine kept the callbacks 1 ms apart: then the wait bound sends the first alone.
    if (at.bEnd - at.aStart < 1) expect(writes).toBe(1);
    else if (at.bStart - at.aEnd >= 1) expect(writes).toBe(2);
    else expect([1, 2]).toContain(writes);
  });
  it("a batch held 1 ms or more leaves before the next command of ours, however long the phase's other callbacks run", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const stream = (client as unknown as { stream: Socket & { pause(): void; resume(): void } }).stream;
    stream.pause(); // the first claim stays unanswered, so the next ones are held
    const first = store.claim("held", claim("owner"));
    writes = 0;
    const second = store.claim("a", claim("t"));
    expect(writes).toBe(0);
    const until = performance.now() + 2;
    while (performance.now() < until); // a callback that runs 2 ms…
    await new Promise((resolve) => process.nextTick(resolve)); // …then the next one, before the phase ends
    const third = store.claim("b", claim("t"));
    try {
      expect(writes).toBe(1); // the second went out before the third was held
      expect(stream.writableCorked).toBe(1);
    } finally {
      stream.resume();
    }
    expect(await Promise.all([first, second, third])).toMatchObject([
      { acquired: true },
      { acquired: true },
      { acquired: true },
    ]);
  });

  it("a group that must leave in one write (a large outcome's pending list, RPUSHX and script) is not split when the wait bound passes between them", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:` });
    const owner = claim("owner");
    await store.claim("large", owner);
    const stream = (client as unknown as { stream: Socket & { pause(): void; resume(): void } }).stream;
    stream.pause(); // the next claim stays unanswered, so what follows is held
    // A clock that stands still, but for 2 ms as the RPUSHX is sent; the write count at each command.
    const base = performance.now();
    let offset = 0;
    const now = vi.spyOn(performance, "now").mockImplementation(() => base + offset);
    const first = store.claim("held", claim("t"));
    const second = store.claim("a", claim("t")); // corks a batch
    await new Promise((resolve) => process.nextTick(resolve)); // a later tick than the batch's
    const seen: [string, number][] = [];
    const { sendCommand } = client;
    client.sendCommand = function (this: Redis, command: { name: string }, ...rest: unknown[]) {
      seen.push([command.name, writes]);
      if (command.name === "rpushx") offset += 2;
      return (sendCommand as (...args: unknown[]) => unknown).call(this, command, ...rest);
    } as typeof client.sendCommand;
    let completion: Promise<boolean>;
    try {
      completion = store.complete("large", owner.token, {
        result: new Uint8Array(64 * 1024),
        retentionMs: 10_000,
      });
    } finally {
      client.sendCommand = sendCommand;
      now.mockRestore();
      stream.resume();
    }
    const pushed = seen.findIndex(([name]) => name === "rpushx");
    expect(seen.slice(pushed - 1, pushed + 2).map(([name]) => name)).toEqual(["eval", "rpushx", "evalsha"]);
    for (const [name, at] of [seen[pushed - 1], seen[pushed + 1]] as [string, number][])
      expect(at, `no write between the RPUSHX and the ${name} beside it`).toBe(seen[pushed]?.[1]);
    expect(await completion).toBe(true);
    expect(await Promise.all([first, second])).toMatchObject([{ acquired: true }, { acquired: true }]);
  });

  it("under a test's fake timers, held commands still leave: nothing waits for the fake clock", async () => {
    const store = createRedisStore({ client, prefix: `idemkit-test:${randomUUID()}:`, commandTimeoutMs: 0 });
    vi.useFakeTimers();
    try {
      const claims = Promise.all(["a", "b", "c"].map((key) => store.claim(key, claim("t"))));
      const settled = await Promise.race([
        claims.then(() => "answered"),
        new Promise((resolve) => realTimeout(() => resolve("still held after 2 s"), 2_000)),
      ]);
      expect(settled).toBe("answered");
    } finally {
      vi.useRealTimers();
    }
  });
});
