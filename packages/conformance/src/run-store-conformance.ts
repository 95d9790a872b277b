import type { IdempotencyStore } from "@idemkit/core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { groups } from "./checks/index.js";
import { CAPABILITIES, type Check, checkOutcomeLimit, createContext } from "./context.js";

export interface StoreConformanceOptions<S extends IdempotencyStore = IdempotencyStore> {
  /** Shown in the test names, e.g. "redis". */
  name: string;
  /**
   * Makes a store; may be async. Called once for the main instance and again for the checks that
   * need several instances (races), so that concurrent calls run across separate connections where
   * the store has them.
   */
  createStore: () => S | Promise<S>;
  /** Closes what `createStore` opened (the client, the pool). Called once per created store. */
  teardown?: (store: S) => void | Promise<void>;
  /**
   * Timing. `leaseMs` is the short lease the expiry checks use (every other check uses a 60 s lease,
   * so a slow store never outlives one mid-check); `toleranceMs` is added to every wait for a deadline
   * to pass, for stores whose clock is coarse or remote; `timeoutMs` bounds each check (and creating or
   * closing the stores).
   */
  timing?: { leaseMs?: number; toleranceMs?: number; timeoutMs?: number };
  /**
   * Hard limits of the store. `outcomeBytes`: the largest outcome it holds (DynamoDB's item is 400 KB, the
   * key and fingerprint included): a whole number of bytes, at least 64 KiB. Outcomes of exactly the limit
   * and one byte under it must round-trip; the round trips of larger outcomes are skipped, visibly, and a
   * check that `complete` with an outcome twice as large rejects, stores nothing, and leaves the owner's lease.
   */
  limits?: { outcomeBytes?: number };
  /** How many store instances and concurrent claims the race checks use (default 4 instances, 50 claims). */
  race?: { stores?: number; claims?: number };
  /**
   * Runs the store's own cleanup of records past their keep-until time now, where it can be
   * triggered (a purge call, a sweep); a store that forgets by itself (a TTL) needs none. The
   * fence checks call it before the claim that must still see a fence, so a store that forgets a
   * record before its keep-until fails them instead of passing because its cleanup happened not to run.
   */
  purge?: (store: S) => unknown | Promise<unknown>;
  /** When set, the whole suite is skipped and the reason is shown in its name. */
  skip?: string | false;
}

/**
 * Runs the idemkit store contract against a store, as vitest tests: one `describe` per group of
 * promises (`checks/*.ts`), one test per check. Each check uses fresh random keys, so the suite is
 * safe on a shared database and needs no flush.
 */
export function runStoreConformance<S extends IdempotencyStore>(options: StoreConformanceOptions<S>): void {
  // Checked before any test is registered: a bad limit fails the file, not a check.
  const outcomeLimit = checkOutcomeLimit(options.limits?.outcomeBytes);
  const timeoutMs = options.timing?.timeoutMs ?? 30_000;
  const title = options.skip
    ? `${options.name} store conformance (skipped: ${options.skip})`
    : `${options.name} store conformance`;

  describe.skipIf(Boolean(options.skip))(title, () => {
    const created: S[] = [];
    let main: S | undefined;
    const make = async () => {
      const store = await options.createStore();
      created.push(store);
      return store;
    };
    const context = createContext({
      store: () => {
        if (main === undefined) throw new Error("the store was not created (see the error of createStore)");
        return main;
      },
      make,
      purge: options.purge as ((store: IdempotencyStore) => unknown) | undefined,
      leaseMs: options.timing?.leaseMs ?? 300,
      toleranceMs: options.timing?.toleranceMs ?? 100,
      raceStores: options.race?.stores ?? 4,
      raceClaims: options.race?.claims ?? 50,
      outcomeBytes: outcomeLimit,
    });
    /** Why a check does not apply to this store, or `undefined` when it does. */
    const notApplicable = (check: Check) => {
      if (check.needsOutcomeLimit && outcomeLimit === undefined) return "the store declares no outcome limit";
      if (
        check.outcomeBytes !== undefined &&
        outcomeLimit !== undefined &&
        check.outcomeBytes > outcomeLimit
      ) {
        return `above the store's outcome limit of ${outcomeLimit} bytes`;
      }
      return undefined;
    };

    /** Why a check is skipped once the store exists: it needs a capability the store does not offer. */
    const missing = (check: Check) =>
      check.needs !== undefined && typeof main?.[check.needs] !== "function"
        ? `the store offers no ${check.needs}()`
        : undefined;

    beforeAll(async () => {
      main = await make();
      for (const capability of CAPABILITIES) {
        if (typeof main[capability] !== "function") {
          console.warn(
            `[idemkit] ${options.name}: the store offers no ${capability}(): its ${capability} checks are skipped`,
          );
        }
      }
    }, timeoutMs);

    afterAll(async () => {
      for (const store of created) await options.teardown?.(store);
    }, timeoutMs);

    // Groups whose checks mostly wait for deadlines run their checks side by side (up to vitest's
    // maxConcurrency); the groups that load the store run alone.
    for (const { name, checks, alone } of groups) {
      (alone ? describe : describe.concurrent)(name, () => {
        for (const check of checks) {
          const why = notApplicable(check);
          if (why === undefined) {
            it(
              check.title,
              (test) => {
                const skipped = missing(check);
                return skipped === undefined ? check.run(context) : test.skip(skipped);
              },
              timeoutMs,
            );
          } else it.skip(`${check.title} (skipped: ${why})`, () => {});
        }
      });
    }
  });
}
