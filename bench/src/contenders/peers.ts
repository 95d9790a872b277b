import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { CachePersistenceLayer } from "@aws-lambda-powertools/idempotency/cache";
import * as nodeIdempotency from "@node-idempotency/core";
import { RedisStorageAdapter } from "@node-idempotency/storage-adapter-redis";
import { createClient } from "@redis/client";
import { RETENTION_MS } from "./idemkit.js";
import { type Contender, InFlightError, TAKEOVER_LEASE_MS } from "./types.js";

type Work = () => Promise<unknown>;

/**
 * `@aws-lambda-powertools/idempotency` with its cache (Redis/Valkey) persistence layer, on the
 * `@redis/client` it documents, through `makeIdempotent(fn)` keyed by the payload's `key` (JMESPath).
 *
 * - `lease`: a Lambda context whose remaining time (ms) becomes the in-progress expiry, the nearest
 *   thing Powertools has to a lease. Without one it records no in-progress expiry at all, warns on
 *   every call, and treats every in-progress record as an orphan (see the burst check).
 * - No payload validation: with `payloadValidationJmesPath` set, every replay from the cache layer
 *   throws `IdempotencyValidationError`, because its completion write drops the validation hash.
 */
export async function powertools(url: string, prefix: string, lease: number | undefined): Promise<Contender> {
  const client = await createClient({ url }).connect();
  const persistenceStore = new CachePersistenceLayer({ client: client as never });
  const config = new IdempotencyConfig({ eventKeyJmesPath: "key", expiresAfterSeconds: RETENTION_MS / 1000 });
  if (lease !== undefined) config.registerLambdaContext(lambdaContext(lease));
  else silenceRemainingTimeWarning();
  persistenceStore.configure({ config, keyPrefix: prefix });
  const idempotent = makeIdempotent(async (_payload: unknown, work: Work) => work(), {
    persistenceStore,
    config,
    keyPrefix: prefix,
  });
  return {
    name: "powertools",
    store: "redis",
    ...(lease === undefined ? { label: "powertools (no Lambda context)" } : {}),
    async run(key, input, work) {
      try {
        return await idempotent({ key, input }, work);
      } catch (error) {
        if (error instanceof Error && error.name === "IdempotencyAlreadyInProgressError") {
          throw new InFlightError(key);
        }
        throw error;
      }
    },
    // A crashed owner: an in-progress record whose expiry is the takeover lease.
    async abandon(key, input) {
      await persistenceStore.saveInProgress({ key, input } as never, TAKEOVER_LEASE_MS);
    },
    async close() {
      await client.quit();
    },
  };
}

/** Without a Lambda context Powertools warns on every call; keep the bench output readable. */
function silenceRemainingTimeWarning(): void {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).startsWith("Could not determine remaining time")) warn(...args);
  };
}

const lambdaContext = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs }) as never;

/**
 * `@node-idempotency/core` with `@node-idempotency/storage-adapter-redis` (which opens its own
 * node-redis v4 client from the URL), driven as its HTTP hooks are: `onRequest` before the work,
 * `onResponse` after it.
 */
export async function nodeIdempotencyRedis(url: string, prefix: string): Promise<Contender> {
  const storage = new RedisStorageAdapter({ url });
  await storage.connect();
  const idem = new nodeIdempotency.Idempotency(storage, { cacheKeyPrefix: prefix, cacheTTLMS: RETENTION_MS });
  return {
    name: "node-idempotency",
    store: "redis",
    async run(key, input, work) {
      const request = {
        headers: { "idempotency-key": key },
        path: "/op",
        method: "POST",
        body: input as Record<string, unknown>,
      };
      let cached: nodeIdempotency.IdempotencyResponse | undefined;
      try {
        cached = await idem.onRequest(request);
      } catch (error) {
        if (
          error instanceof nodeIdempotency.IdempotencyError &&
          error.code === nodeIdempotency.IdempotencyErrorCodes.REQUEST_IN_PROGRESS
        ) {
          throw new InFlightError(key);
        }
        throw error;
      }
      if (cached) return cached.body;
      const value = await work();
      await idem.onResponse(request, { body: value });
      return value;
    },
    noTakeover:
      "no lease: the in-progress record lives for the whole cacheTTLMS (retention), so a crashed owner blocks the key until then",
    async close() {
      await storage.disconnect();
    },
  };
}
