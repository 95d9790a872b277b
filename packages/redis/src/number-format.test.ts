// The scripts write whole numbers with `%d` where C's `long` is 64 bits and with `%.0f` elsewhere
// (32-bit builds, Windows: there `%d` wrote deadlines of -2147483648). Here, on a 64-bit server, each
// script is also run with the narrow branch forced, and must write the same records.
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode } from "./record.js";
import { CLAIM, COMPLETE, EXTEND, RELEASE, type Script, WIDE } from "./scripts.js";
import { probeRedis, REDIS_URL } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const narrow = (script: Script) => {
  expect(script.lua).toContain(WIDE);
  return script.lua.replace(WIDE, "local wide = false");
};

describe.skipIf(Boolean(skip))("redis scripts: whole numbers without a 64-bit long", () => {
  let client: Redis;
  beforeAll(() => {
    client = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await client.quit();
  });

  // Durations up to the stores' limit (4e15 ms), so deadlines reach ~8e15, far past 2^31.
  it.each([
    [60_000, 60_000],
    [5_000, 0],
    [4e15, 4e15],
  ])(
    "lease %d ms, retention %d ms: claim, extend, release, claim and complete write what the wide branch writes",
    async (leaseMs, retentionMs) => {
      const keys = {
        wide: `idemkit-test:format:${randomUUID()}`,
        narrow: `idemkit-test:format:${randomUUID()}`,
      };
      const token = randomUUID();
      const run = async (which: "wide" | "narrow", script: Script, args: (string | number | Buffer)[]) =>
        client.eval(which === "wide" ? script.lua : narrow(script), 1, keys[which], ...args);
      const both = async (script: Script, args: (string | number | Buffer)[]) => {
        const replies = [await run("wide", script, args), await run("narrow", script, args)];
        expect(replies[1]).toEqual(replies[0]);
        const [wide, narrowed] = await Promise.all([keys.wide, keys.narrow].map((k) => client.getBuffer(k)));
        const [a, b] = [decode(wide!), decode(narrowed!)];
        // The two ran a moment apart: their clock fields may differ by that moment, nothing else may.
        const clock = (r: ReturnType<typeof decode>) =>
          r.state === "completed" ? r.expiresAt : r.leaseExpiresAt;
        expect(Math.abs(clock(b) - clock(a))).toBeLessThan(1_000);
        expect({ ...b, expiresAt: 0, leaseExpiresAt: 0 }).toEqual({ ...a, expiresAt: 0, leaseExpiresAt: 0 });
        const ttls = await Promise.all([keys.wide, keys.narrow].map((k) => client.pttl(k)));
        expect(Math.abs(ttls[1]! - ttls[0]!)).toBeLessThan(1_000);
        return a;
      };
      expect((await both(CLAIM, [token, "fingerprint", leaseMs, retentionMs])).state).toBe("in_progress");
      await both(EXTEND, [token, leaseMs]);
      await both(RELEASE, [token]);
      const second = randomUUID();
      expect((await both(CLAIM, [second, "fingerprint", leaseMs, retentionMs])).fence).toBe(2);
      const completed = await both(COMPLETE, [second, Buffer.from("outcome"), retentionMs]);
      expect(completed.state === "completed" && Buffer.from(completed.result).toString()).toBe("outcome");
      await client.del(keys.wide, keys.narrow);
    },
  );
});
