import { afterEach, describe, expect, it } from "vitest";
import { createIdempotency } from "../idempotency.js";
import { createMemoryStore } from "../memory-store.js";
import type { IdempotencyStore } from "../store.js";
import type { ExchangeBody, HttpExchange } from "./exchange.js";
import type { HttpOptions } from "./policy.js";

type Req = { user?: string };

/** An entry on a memory store whose claims, and the `finished` events, are counted as they come. */
function entryOf(options: HttpOptions<Req> = {}) {
  const store = createMemoryStore();
  const claims: string[] = [];
  const counted: IdempotencyStore = Object.assign(Object.create(store), {
    claim: (key: string, request: Parameters<IdempotencyStore["claim"]>[1]) => {
      claims.push(key);
      return store.claim(key, request);
    },
  });
  const idempotency = createIdempotency({ store: counted });
  const finished: { status: number | undefined; reason: string | undefined }[] = [];
  idempotency.on((event) => {
    if (event.type === "finished") finished.push({ status: event.http?.status, reason: event.reason });
  });
  const entry = idempotency.exchange<Req>({ scope: "global", ...options }, "test");
  return { entry, claims, finished };
}

const exchange = (body: ExchangeBody, request: Req = {}, key: string | null = "k1"): HttpExchange<Req> => ({
  method: "POST",
  target: "/orders",
  header: (name) =>
    name === "idempotency-key" ? (key ?? undefined) : { "content-type": "application/json" }[name],
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
  it("calls a scope function that answers at once before begin returns, and claims without waiting", () => {
    const calls: string[] = [];
    const { entry, claims } = entryOf({
      scope: (request) => {
        calls.push("scope");
        return request.user;
      },
    });
    const begun = entry.begin(exchange({ kind: "parsed", value: {} }, { user: "ann" }));
    calls.push("returned");
    expect(calls).toEqual(["scope", "returned"]);
    expect(claims).toEqual(["idem:http:3:ann:k1"]);
    return begun;
  });

  it("hands a streamed body on under the global scope too", async () => {
    const { entry } = entryOf();
    const begun = await entry.begin(exchange(streamOf('{"sku":"a"}')));
    expect(new TextDecoder().decode((begun as { requestBody?: Uint8Array }).requestBody)).toBe('{"sku":"a"}');
  });

  it("stores the fingerprint a fingerprint option's promise resolves to: the same replays, another is 422", async () => {
    let fingerprint = "a".repeat(64);
    const { entry } = entryOf({ fingerprint: async () => fingerprint });
    const first = await entry.begin(exchange({ kind: "parsed", value: {} }));
    if (first.kind !== "run") throw new Error(`expected a run, got ${first.kind}`);
    await first.finish({ status: 201, headers: {}, body: new TextEncoder().encode("made") });
    const again = await entry.begin(exchange({ kind: "parsed", value: {} }));
    expect(again.kind === "answer" && again.answer.status).toBe(201);
    fingerprint = "b".repeat(64);
    const other = await entry.begin(exchange({ kind: "parsed", value: {} }));
    expect(other.kind === "answer" && other.answer.status).toBe(422);
  });

  it("reports each request answered before a claim as finished, with its problem, 400 and 413 alike", async () => {
    const { entry, claims, finished } = entryOf({
      scope: (request) => request.user,
      maxRequestBytes: 4,
      required: true,
    });
    const problems = [
      await entry.begin(exchange({ kind: "parsed", value: {} }, {}, null)),
      await entry.begin(exchange({ kind: "parsed", value: {} }, {}, "")),
      await entry.begin({ ...exchange({ kind: "parsed", value: {} }, { user: "ann" }), target: "*" }),
      await entry.begin(exchange({ kind: "parsed", value: {} }, {})),
      await entry.begin(exchange({ kind: "parsed", value: { sku: "abc" } }, { user: "ann" })),
      await entry.begin(exchange(streamOf('{"sku":"abc"}'), { user: "ann" })),
    ].map((begun) => {
      if (begun.kind !== "answer") throw new Error(`expected an answer, got ${begun.kind}`);
      const { type, detail } = JSON.parse(new TextDecoder().decode(begun.answer.body));
      return { status: begun.answer.status, type: type.replace("urn:idemkit:problem:", ""), detail };
    });
    expect(problems).toEqual([
      { status: 400, type: "key-missing", detail: "This request needs an idempotency-key header." },
      { status: 400, type: "key-invalid", detail: "Idempotency key is empty" },
      {
        status: 400,
        type: "target-invalid",
        detail: "The request target is neither a path nor an absolute URL.",
      },
      {
        status: 400,
        type: "scope-missing",
        detail: "This request carries no identity its idempotency key could belong to.",
      },
      {
        status: 413,
        type: "request-too-large",
        detail: "Requests with an idempotency key may carry at most 4 bytes of body.",
      },
      {
        status: 413,
        type: "request-too-large",
        detail: "Requests with an idempotency key may carry at most 4 bytes of body.",
      },
    ]);
    expect(finished).toEqual(problems.map(({ status, type }) => ({ status, reason: type })));
    expect(claims).toEqual([]);
  });

  describe("where the app replaced the global Promise (zone.js, bluebird)", () => {
    const Native = globalThis.Promise;
    afterEach(() => {
      globalThis.Promise = Native;
    });

    it("still claims a request prepared in a promise (a streamed body, a scope function's promise)", async () => {
      const { entry, claims } = entryOf({ scope: async (request) => request.user });
      globalThis.Promise = class UserlandPromise<T> extends Native<T> {} as PromiseConstructor;
      const begun = await entry.begin(exchange(streamOf("{}"), { user: "ann" }));
      globalThis.Promise = Native;
      expect(begun.kind).toBe("run");
      expect(claims).toEqual(["idem:http:3:ann:k1"]);
    });

    it("waits for a scope function's promise natively, not on the app's Promise, which may defer (bluebird)", async () => {
      /** Runs every callback a turn of the event loop later, as bluebird does on Node. */
      class Deferring<T> extends Native<T> {
        // biome-ignore lint/suspicious/noThenProperty: a Promise subclass overrides then
        override then<A = T, B = never>(
          onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
          onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
        ): Promise<A | B> {
          const later = () => new Native<void>((resolve) => setImmediate(resolve));
          return super.then(
            (value) => later().then(() => (onFulfilled ? onFulfilled(value) : (value as unknown as A))),
            (reason) =>
              later().then(() => {
                if (onRejected) return onRejected(reason);
                throw reason;
              }),
          );
        }
      }
      const { entry, claims } = entryOf({ scope: async (request) => request.user });
      globalThis.Promise = Deferring as PromiseConstructor;
      const begun = entry.begin(exchange({ kind: "parsed", value: {} }, { user: "ann" }));
      globalThis.Promise = Native;
      await new Native((resolve) => setImmediate(resolve));
      expect(claims).toEqual(["idem:http:3:ann:k1"]);
      expect((await begun).kind).toBe("run");
    });
  });
});
