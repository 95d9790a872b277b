import type { IdempotencyStore } from "@idemkit/core";

/**
 * `store` with its `claim` and `complete` answered by its `synchronousCalls` (`@idemkit/core`'s store.ts),
 * each wrapped in a promise; everything else passes through. Run the suite on it too, as a second
 * `runStoreConformance`, to hold the synchronous forms to every promise the methods keep: core calls
 * them in the methods' place. Throws when the store does not offer them as core would use them.
 */
export function throughSynchronousCalls<S extends IdempotencyStore>(store: S): S {
  const calls = store.synchronousCalls;
  if (store.settlesOnReturn !== true || calls === undefined) {
    throw new TypeError("the store offers no synchronousCalls beside settlesOnReturn: true");
  }
  if (calls.claimMethod !== store.claim || calls.completeMethod !== store.complete) {
    throw new TypeError(
      "the store's synchronousCalls do not name its own claim and complete (claimMethod, completeMethod)",
    );
  }
  const claim: IdempotencyStore["claim"] = async (key, request) => calls.claim(key, request);
  const complete: IdempotencyStore["complete"] = async (key, token, outcome) =>
    calls.complete(key, token, outcome);
  return new Proxy(store, {
    get(target, name) {
      if (name === "claim") return claim;
      if (name === "complete") return complete;
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
