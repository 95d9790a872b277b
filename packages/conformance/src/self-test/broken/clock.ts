import { type BrokenStore, mapReads, single, wrapped } from "./support.js";

/** Broken stores the `clock` checks catch. */
export const clock: BrokenStore[] = [
  {
    name: "deadlines-in-seconds",
    breaks: "deadlines are milliseconds since the epoch (this one returns seconds)",
    fails: {
      "clock/epoch-milliseconds": /leaseExpiresAt of the record a claim returns is \d+, expected about/,
    },
    build: (inner) =>
      single(
        inner,
        mapReads(inner, (record) =>
          record.state === "completed"
            ? { ...record, expiresAt: Math.floor(record.expiresAt / 1000) }
            : { ...record, leaseExpiresAt: Math.floor(record.leaseExpiresAt / 1000) },
        ),
      ),
  },
  {
    name: "lease-halved",
    breaks: "a lease lasts leaseMs (this one ends it halfway)",
    fails: { "clock/lease-length": /the key reads as undefined: the lease must not end before/ },
    build: (inner) =>
      wrapped(inner, { claim: (key, claim) => inner.claim(key, { ...claim, leaseMs: claim.leaseMs / 2 }) }),
  },
];
