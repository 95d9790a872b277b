import { type BrokenStore, owns, wrapped, wrappedTracked } from "./support.js";

/** Broken stores the `extend` checks catch. */
export const extend: BrokenStore[] = [
  {
    name: "extend-noop",
    breaks: "extend moves the lease end (this one answers true and changes nothing)",
    fails: {
      "extend/keeps-key":
        /extend by the owner at \+\d+ ms returned false|expected the claim to find the live record/,
    },
    build: (inner) => wrapped(inner, { extend: (key, token) => owns(inner, key, token) }),
  },
  {
    name: "extend-half-lease",
    breaks: "extend sets the lease to leaseMs from now (this one gives half)",
    fails: {
      "extend/lease-from-extend": /the key reads as undefined: the extended lease must end no earlier/,
    },
    build: (inner) =>
      wrapped(inner, { extend: (key, token, leaseMs) => inner.extend(key, token, leaseMs / 2) }),
  },
  {
    name: "extend-after-expiry",
    breaks: "extend of a lease that already ended returns false (this one revives it for its last owner)",
    fails: { "extend/expired": /extend by the owner after its lease ended .* returned true, expected false/ },
    build: (inner) =>
      wrappedTracked(inner, ({ revive }) => ({
        async extend(key, token, leaseMs) {
          if (await inner.extend(key, token, leaseMs)) return true;
          return (await revive(key, token)) && inner.extend(key, token, leaseMs);
        },
      })),
  },
];
