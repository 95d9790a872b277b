// An outcome key is in its record's Cluster slot, as Redis itself computes slots (CLUSTER KEYSLOT).
import { randomBytes } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keySlot, outcomeKeyOf } from "./outcome-key.js";
import { CLUSTER_NODES, probeCluster } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis-cluster", await probeCluster());

/** Keys with and without braces in every place a hash tag can be made or broken. */
function keys(): string[] {
  const odd = ["", "{", "}", "{}", "{a}", "}{", "{{a}}", "a{b", "a}b{c}", "{}{a}", "é{ü}", "\u0001"];
  const made = [];
  for (const head of odd) for (const tail of odd) made.push(`${head}idem:${tail}`);
  for (let i = 0; i < 300; i++)
    made.push(
      randomBytes(1 + (i % 12))
        .toString("latin1")
        .replace(/[\r\n]/g, "x"),
    );
  return made;
}

describe.skipIf(Boolean(skip))("outcome keys: Redis Cluster slots", () => {
  let node: Redis;
  beforeAll(() => {
    node = new Redis(CLUSTER_NODES[0] as { host: string; port: number });
  });
  afterAll(async () => {
    await node.quit();
  });
  const slot = async (key: string | Buffer) => Number(await node.cluster("KEYSLOT", key));

  it("keySlot is Redis's own slot of a key", async () => {
    for (const key of keys()) expect([key, keySlot(Buffer.from(key))]).toEqual([key, await slot(key)]);
  });

  it("an outcome key, and a pending one after it, are in the slot of the record's key under any client prefix", async () => {
    let inline = 0;
    for (const clientPrefix of ["", "app:", "{app}:", "x{", "}"]) {
      for (const key of keys()) {
        const outcome = outcomeKeyOf(Buffer.from(clientPrefix), key);
        const full = clientPrefix + key;
        if (outcome === undefined) {
          // Only where the record's key has a "{" that opens no hash tag.
          expect(full).toMatch(/\{/);
          expect(keySlot(Buffer.from(full))).toBe(await slot(full));
          inline++;
          continue;
        }
        const named = Buffer.concat([Buffer.from(clientPrefix), outcome]);
        expect([full, await slot(named)]).toEqual([full, await slot(full)]);
        expect(await slot(Buffer.concat([named, Buffer.from(`:{a}${key}`)]))).toBe(await slot(full));
        // Not UTF-8: no key the store is given (sent as UTF-8) is this name.
        expect(outcome.includes(0xff)).toBe(true);
        expect(Buffer.from(outcome.toString()).equals(outcome)).toBe(false);
      }
    }
    expect(inline).toBeGreaterThan(0);
  });
});
