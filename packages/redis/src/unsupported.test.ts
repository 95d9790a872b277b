// node-redis clients the store would drive wrongly are refused when it is created, saying what to
// pass instead: a pool (its keyPrefix was ignored).
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createClientPool } from "@redis/client";
import { describe, expect, it } from "vitest";
import { createRedisStore, type RedisStoreOptions } from "./index.js";
import { probeRedis, REDIS_URL } from "./testing/clients.js";

const skip = skipUnlessAvailable("redis", await probeRedis());
const store = (client: unknown) => createRedisStore({ client } as RedisStoreOptions);

describe.skipIf(Boolean(skip))("unsupported node-redis clients are refused", () => {
  it("a createClientPool (before: accepted, and its keyPrefix ignored, so apps it separated shared keys)", async () => {
    const pool = createClientPool({ url: REDIS_URL, keyPrefix: "app-a:" });
    pool.on("error", () => {});
    await pool.connect();
    try {
      expect(() => store(pool)).toThrow(TypeError);
      expect(() => store(pool)).toThrow(
        /client pool \(createClientPool\) is not supported\. Pass a node-redis createClient\(\)/,
      );
    } finally {
      await pool.close();
    }
  });
});
