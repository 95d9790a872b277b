import { describe, expect, it } from "vitest";
import { createIdempotency } from "../idempotency.js";
import { createMemoryStore } from "../memory-store.js";
import type { IdempotencyStore } from "../store.js";
import type { ExchangeBody, HttpExchange } from "./exchange.js";
import type { HttpOptions } from "./policy.js";

type Req = { user?: string };

/** An entry on a memory store whose claims are counted as they are sent. */
function entryOf(options: HttpOptions<Req> = {}) {
  const store = createMemoryStore();
  const claims: string[] = [];
  const counted: IdempotencyStore = Object.assign(Object.create(store), {
    claim: (key: string, request: Parameters<IdempotencyStore["claim"]>[1]) => {
      claims.push(key);
      return store.claim(key, request);
    },
  });
  const entry = createIdempotency({ store: counted }).exchange<Req>({ scope: "global", ...options }, "test");
  return { entry, claims };
}

const exchange = (body: ExchangeBody, request: Req = {}): HttpExchange<Req> => ({
  method: "POST",
  target: "/orders",
  header: (name) => ({ "idempotency-key": "k1", "content-type": "application/json" })[name],
  body,
  request,
});

const streamOf = (text: string): ExchangeBody => ({
  kind: "stream",
  read: async (limit) => {
    const bytes = new TextEncoder().encode(text);
    return bytes.length > limit ? undefined : bytes;
  },
});

describe("HttpEntry.begin", () => {
  it("sends the claim of a request it can prepare at once before it returns", async () => {
    const { entry, claims } = entryOf();
    const begun = entry.begin(exchange({ kind: "parsed", value: { sku: "a" } }));
    expect(claims).toHaveLength(1);
    expect((await begun).kind).toBe("run");
  });

  it("claims under the scope a scope function answers later, and hands a streamed body on", async () => {
    const { entry, claims } = entryOf({ scope: async (request) => request.user });
    const begun = await entry.begin(exchange(streamOf('{"sku":"a"}'), { user: "ann" }));
    expect(begun.kind).toBe("run");
    expect(claims).toEqual(["idem:http:3:ann:k1"]); // the scope, length-prefixed
    expect(new TextDecoder().decode((begun as { requestBody?: Uint8Array }).requestBody)).toBe('{"sku":"a"}');
  });

  it("answers 400 without a claim when a scope function finds no identity", async () => {
    const { entry, claims } = entryOf({ scope: async () => "" });
    const begun = await entry.begin(exchange({ kind: "parsed", value: {} }));
    expect(begun.kind === "answer" && begun.answer.status).toBe(400);
    expect(claims).toEqual([]);
  });

  it("answers 413 without a claim for a body over the cap, given whole or streamed", async () => {
    const { entry, claims } = entryOf({ maxRequestBytes: 4 });
    for (const body of [{ kind: "parsed", value: { sku: "abc" } } as const, streamOf('{"sku":"abc"}')]) {
      const begun = await entry.begin(exchange(body));
      expect(begun.kind === "answer" && begun.answer.status).toBe(413);
    }
    expect(claims).toEqual([]);
  });

  it("rejects, never throws, when a fingerprint option throws, for a body given whole or streamed", async () => {
    const { entry, claims } = entryOf({
      fingerprint: () => {
        throw new Error("no fingerprint");
      },
    });
    for (const body of [{ kind: "parsed", value: {} } as const, streamOf("{}")]) {
      let begun: Promise<unknown> | undefined;
      expect(() => {
        begun = entry.begin(exchange(body));
      }).not.toThrow();
      await expect(begun).rejects.toThrow("no fingerprint");
    }
    expect(claims).toEqual([]);
  });

  it("waits for a fingerprint option's promise before the claim", async () => {
    const { entry, claims } = entryOf({ fingerprint: async () => "f".repeat(64) });
    const begun = entry.begin(exchange({ kind: "parsed", value: {} }));
    expect(claims).toEqual([]);
    expect((await begun).kind).toBe("run");
    expect(claims).toHaveLength(1);
  });
});
