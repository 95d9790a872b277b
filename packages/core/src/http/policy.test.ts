import { describe, expect, it } from "vitest";
import { createIdempotency } from "../idempotency.js";
import { createMemoryStore } from "../memory-store.js";

const store = createMemoryStore();

describe("options are checked when they are given", () => {
  it.each([
    [{ maxRequestBytes: Number.NaN }, /maxRequestBytes must be an integer from 0/],
    [{ maxRequestBytes: -1 }, /maxRequestBytes/],
    [{ maxResponseBytes: -1 }, /maxResponseBytes/],
    [{ header: "" }, /header must be an HTTP token/],
    [{ header: "Idempotency Key" }, /header must be an HTTP token/],
    [{ methods: "POST" }, /methods must be an array/],
    [{ waitForInFlight: { timeoutMs: 0 } }, /waitForInFlight.timeoutMs/],
    [{ onStoreUnavailable: "maybe" }, /onStoreUnavailable must be one of "closed", "open"/],
    [{ scope: "everyone" }, /scope must be a function of the request or "global"/],
    [{ renderProblem: "json" }, /renderProblem must be a function/],
    [{ conflictRetryAfterSeconds: 1.5 }, /conflictRetryAfterSeconds/],
  ])("refuses %o, naming the option", (options, message) => {
    expect(() => createIdempotency({ store, ...(options as object) })).toThrow(message);
  });

  it("refuses a misspelt option name", () => {
    expect(() => createIdempotency({ store, leaseMS: 5000 } as never)).toThrow(/unknown option "leaseMS"/);
    const idem = createIdempotency({ store, scope: "global" });
    expect(() => idem.withOptions({ maxRequestByte: 10 } as never)).toThrow(
      /unknown option "maxRequestByte"/,
    );
    expect(() => idem.exchange({ scop: "global" } as never, "my-integration")).toThrow(
      /my-integration: unknown option "scop"/,
    );
  });

  it("refuses a missing or broken store", () => {
    expect(() => createIdempotency({} as never)).toThrow(/store must be an idempotency store/);
    expect(() => createIdempotency({ store: null as never })).toThrow(/store must be an idempotency store/);
    expect(() => createIdempotency({ store: { claim() {} } as never })).toThrow(/without complete, release/);
  });

  it("needs a scope at every HTTP entry point, when it is created", () => {
    const idem = createIdempotency({ store });
    expect(() => idem.wrap(async () => new Response("x"))).toThrow(/choose a scope/);
    expect(() => idem.exchange({}, "@idemkit/express")).toThrow(/@idemkit\/express: choose a scope/);
    expect(() => idem.withOptions({ scope: "global" }).wrap(async () => new Response("x"))).not.toThrow();
  });

  it("does not hand a Web-typed scope function to an integration with another request type", () => {
    const idem = createIdempotency({
      store,
      scope: (request) => request.headers.get("x-tenant") ?? undefined,
    });
    expect(() => idem.exchange({}, "@idemkit/express")).toThrow(
      /the scope given to createIdempotency reads a Web Request/,
    );
    expect(() => idem.exchange({ scope: "global" }, "@idemkit/express")).not.toThrow();
  });
});
