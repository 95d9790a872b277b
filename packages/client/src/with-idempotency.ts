import { idempotentFetch } from "./idempotent-fetch.js";
import type { IdempotentFetchOptions } from "./options.js";

export interface WithIdempotencyOptions extends Omit<IdempotentFetchOptions, "key" | "fetch"> {
  /** Methods given a key and retried. Default POST and PATCH; others go to `fetch` untouched. */
  methods?: string[];
}

/**
 * Wraps a fetch so each call to a covered method is one idempotent operation with its own key:
 * `const api = withIdempotency(fetch); await api("/orders", { method: "POST", body })`.
 * A caller that already set the key header keeps its key (to span several calls).
 */
export function withIdempotency(
  fetch: typeof globalThis.fetch,
  options: WithIdempotencyOptions = {},
): typeof globalThis.fetch {
  const methods = new Set((options.methods ?? ["POST", "PATCH"]).map((m) => m.toUpperCase()));
  const header = options.header ?? "Idempotency-Key";
  return (input, init) => {
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    if (!methods.has(method)) return fetch(input, init);
    const given = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get(
      header,
    );
    const key = given === null ? undefined : given.replace(/^"(.*)"$/, "$1").replace(/\\(.)/g, "$1");
    return idempotentFetch(input, init, { ...options, key, fetch });
  };
}
