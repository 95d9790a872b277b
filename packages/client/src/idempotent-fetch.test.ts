import { describe, expect, it } from "vitest";
import { backoffDelay, idempotencyOf, idempotentFetch, retryAfterMs, withIdempotency } from "./index.js";

/** A fetch that answers from a script and records what it was sent. */
function scripted(...answers: (Response | Error)[]) {
  const calls: { key: string | null; body: string; method: string }[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    const request = new Request(url, init);
    calls.push({
      key: request.headers.get("idempotency-key"),
      body: await request.text(),
      method: request.method,
    });
    const next = answers.shift();
    if (!next) throw new Error("script exhausted");
    if (next instanceof Error) throw next;
    return next;
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}
const fast = { minDelayMs: 1, maxDelayMs: 2 };

describe("idempotentFetch", () => {
  it("sends one key on every attempt and the same body, through network errors and 5xx", async () => {
    const { fetch, calls } = scripted(
      new TypeError("fetch failed"),
      new Response("busy", { status: 503 }),
      new Response("in progress", { status: 409 }),
      new Response("done", { status: 201, headers: { "idempotent-replayed": "true" } }),
    );
    const response = await idempotentFetch(
      "http://x.test/orders",
      { method: "POST", body: "payload" },
      { fetch, ...fast },
    );
    expect(await response.text()).toBe("done");
    expect(calls.map((c) => c.body)).toEqual(["payload", "payload", "payload", "payload"]);
    const keys = new Set(calls.map((c) => c.key));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^"[0-9a-f-]{36}"$/);
    expect(idempotencyOf(response)).toMatchObject({ replayed: true, attempts: 4 });
  });

  it.each([400, 422, 404, 410])("never retries %i", async (status) => {
    const { fetch, calls } = scripted(new Response("no", { status }));
    const response = await idempotentFetch("http://x.test/", { method: "POST" }, { fetch, ...fast });
    expect(response.status).toBe(status);
    expect(calls).toHaveLength(1);
  });

  it("honours Retry-After, capped by maxRetryAfterMs", async () => {
    const delays: number[] = [];
    const { fetch } = scripted(
      new Response("", { status: 503, headers: { "retry-after": "3600" } }),
      new Response("", { status: 429, headers: { "retry-after": "0" } }),
      new Response("ok", { status: 200 }),
    );
    await idempotentFetch(
      "http://x.test/",
      { method: "POST" },
      { fetch, maxRetryAfterMs: 5, onRetry: (r) => delays.push(r.delayMs) },
    );
    expect(delays).toEqual([5, 0]);
  });

  it("gives up after `retries` and returns the last answer; rethrows the last network error", async () => {
    const { fetch, calls } = scripted(...Array.from({ length: 3 }, () => new Response("", { status: 502 })));
    expect(
      (await idempotentFetch("http://x.test/", { method: "POST" }, { fetch, retries: 2, ...fast })).status,
    ).toBe(502);
    expect(calls).toHaveLength(3);
    const down = scripted(new TypeError("a"), new TypeError("b"));
    await expect(
      idempotentFetch("http://x.test/", { method: "POST" }, { fetch: down.fetch, retries: 1, ...fast }),
    ).rejects.toThrow("b");
  });

  it("stops when the caller aborts", async () => {
    const { fetch } = scripted(new Response("", { status: 503, headers: { "retry-after": "10" } }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("caller gave up")), 20);
    await expect(
      idempotentFetch("http://x.test/", { method: "POST", signal: controller.signal }, { fetch }),
    ).rejects.toThrow("caller gave up");
  });
});

describe("withIdempotency", () => {
  it("gives each covered call its own key, keeps a caller's key, leaves GET alone", async () => {
    const { fetch, calls } = scripted(
      new Response("a"),
      new Response("b"),
      new Response("c"),
      new Response("d"),
    );
    const api = withIdempotency(fetch, fast);
    await api("http://x.test/", { method: "POST" });
    await api("http://x.test/", { method: "POST" });
    await api("http://x.test/", { method: "PATCH", headers: { "Idempotency-Key": '"mine"' } });
    await api("http://x.test/");
    expect(calls[0]!.key).not.toBe(calls[1]!.key);
    expect(calls[2]!.key).toBe('"mine"');
    expect(calls[3]!.key).toBeNull();
  });
});

describe("backoff", () => {
  it("grows exponentially with full jitter, up to the cap", () => {
    expect(backoffDelay(1, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(4, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(20, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(3, 100, 10_000, () => 0)).toBe(0);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
