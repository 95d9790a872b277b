import type { Engine } from "./engine.js";
import type { StoreOperation } from "./events.js";
import { boundedStoreCall } from "./store-call.js";

/**
 * `idem.ping()`: one round trip to the store under `storeTimeoutMs`, for health checks. The store's own
 * `ping()` where it has one, else a `get` of a key no request uses (stored keys are `<prefix>http:…` or
 * `<prefix>run:…`). A failure rejects with `StoreUnavailableError` (operation `ping`) and emits no event:
 * a health check polls, and its failures are the checker's to report.
 */
export function pingStore(engine: Engine, keyPrefix: string): Promise<void> {
  const { store } = engine;
  const quiet = {
    storeTimeoutMs: engine.storeTimeoutMs,
    callDeadlines: engine.callDeadlines,
    listening: false,
    emit() {},
  };
  // Never reported (the reporter does not listen): "ping" only names the call in the error.
  return boundedStoreCall(quiet, "ping" as StoreOperation, keyPrefix, async () => {
    if (typeof store.ping === "function") await store.ping();
    else await store.get(`${keyPrefix}ping`);
  });
}
