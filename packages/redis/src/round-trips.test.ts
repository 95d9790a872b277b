// Round trips per operation, counted on the store's own client as it sends each command: not with the
// server's INFO commandstats, which are server-wide, and which anyone else using the shared server
// while a measurement runs would change.
import { randomUUID } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import type { IdempotencyStore } from "@idemkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisStore } from "./index.js";
import { LARGE_RECORD_BYTES } from "./large-reads.js";
import { probeRedis, standalone, type TestClient } from "./testing/clients.js";

const prefix = "idemkit-test:";
const utf8 = (text: string) => new TextEncoder().encode(text);
const skip = skipUnlessAvailable("redis", await probeRedis());

const CLIENTS: [string, () => Promise<TestClient>][] = [
  ["ioredis", () => standalone.ioredis()],
  ["node-redis", () => standalone.nodeRedis()],
  ["node-redis, RESP2", () => standalone.nodeRedis({ RESP: 2 })],
];

for (const [name, open] of CLIENTS) {
  describe.skipIf(Boolean(skip))(
    `redis store round trips on ${name}, counted as the client sends them`,
    () => {
      let opened: TestClient;
      let store: IdempotencyStore;
      let sent: string[];

      async function count(action: () => Promise<unknown>): Promise<{ total: number; scripts: number }> {
        sent.length = 0;
        await action();
        const scripts = sent.filter((command) => command === "evalsha" || command === "eval").length;
        return { total: sent.length, scripts };
      }

      beforeAll(async () => {
        opened = await open();
        sent = opened.record();
        store = createRedisStore({ client: opened.client, prefix });
        // Load every script used below into Redis's cache first, as a long-running process has.
        const k = `count:${randomUUID()}`;
        const token = randomUUID();
        await store.claim(k, { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 });
        await store.complete(k, token, { result: utf8("warm"), retentionMs: 60_000 });
      });
      afterAll(async () => {
        await opened.close();
      });

      it("a new key costs exactly 2 commands, a replay and an in-flight duplicate exactly 1", async () => {
        const claim = () => ({
          token: randomUUID(),
          fingerprint: "fp",
          leaseMs: 60_000,
          retentionMs: 60_000,
        });
        const k = `count:${randomUUID()}`;
        const owner = claim();
        const fresh = await count(async () => {
          expect((await store.claim(k, owner)).acquired).toBe(true);
          expect(await store.complete(k, owner.token, { result: utf8("ok"), retentionMs: 60_000 })).toBe(
            true,
          );
        });
        expect(fresh).toEqual({ total: 2, scripts: 2 });

        const replay = await count(async () => {
          const again = await store.claim(k, claim());
          expect(!again.acquired && again.record.state).toBe("completed");
        });
        expect(replay).toEqual({ total: 1, scripts: 1 });

        const busy = `count:${randomUUID()}`;
        await store.claim(busy, claim());
        const duplicate = await count(async () => {
          const again = await store.claim(busy, claim());
          expect(!again.acquired && again.record.state).toBe("in_progress");
        });
        expect(duplicate).toEqual({ total: 1, scripts: 1 });
      });

      it("a new key with a large outcome costs 2 round trips: the claim, then the pending list's start, its RPUSHX and the completion together; its replay 1", async () => {
        const k = `count:${randomUUID()}`;
        const token = randomUUID();
        const claim = { token, fingerprint: "fp", leaseMs: 60_000, retentionMs: 60_000 };
        const result = new Uint8Array(LARGE_RECORD_BYTES);
        // The socket's own writes (ioredis corks it: each command's `write` is held until then).
        type Methods = Record<"_write" | "_writev", (...args: unknown[]) => unknown>;
        const stream = (opened.client as { stream?: Methods }).stream;
        let writes = 0;
        if (stream) {
          for (const method of ["_write", "_writev"] as const) {
            const original = stream[method].bind(stream);
            stream[method] = (...args: unknown[]) => {
              writes++;
              return original(...args);
            };
          }
        }
        expect((await store.claim(k, claim)).acquired).toBe(true);
        writes = 0;
        const completion = await count(async () => {
          expect(await store.complete(k, token, { result, retentionMs: 60_000 })).toBe(true);
        });
        expect([completion, sent]).toEqual([{ total: 3, scripts: 2 }, ["eval", "rpushx", "evalsha"]]);
        // ioredis: one write for all three (node-redis writes the commands of one tick together itself).
        if (stream) expect(writes).toBe(1);
        const replay = await count(async () => {
          const again = await store.claim(k, { ...claim, token: randomUUID() });
          expect(!again.acquired && again.record.state === "completed" && again.record.result.length).toBe(
            LARGE_RECORD_BYTES,
          );
        });
        expect(replay).toEqual({ total: 1, scripts: 1 });
        await store.delete(k);
      });
    },
  );
}
