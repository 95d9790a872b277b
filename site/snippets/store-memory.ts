import { createIdempotency, createMemoryStore } from "@idemkit/core";

// One process only: every other process (a second instance, a worker, a restart) has its own.
export const idem = createIdempotency({ store: createMemoryStore(), scope: "global" });
