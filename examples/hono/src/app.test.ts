import { describe, expect, it } from "vitest";
import { createApp } from "./app.js";

const post = (key: string | null, body: unknown) =>
  new Request("http://localhost/orders", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key && { "idempotency-key": key }) },
    body: JSON.stringify(body),
  });

describe("Hono + the core handler", () => {
  it("creates once per key and replays the stored answer", async () => {
    const { app, orders } = createApp();
    const first = await app.request(post('"k1"', { item: "book" }));
    const retry = await app.request(post('"k1"', { item: "book" }));
    expect(first.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(await first.json());
    expect(orders).toHaveLength(1);
  });

  it("rejects a missing key (400) and a reused key with another body (422)", async () => {
    const { app, orders } = createApp();
    expect((await app.request(post(null, { item: "book" }))).status).toBe(400);
    await app.request(post('"k2"', { item: "book" }));
    expect((await app.request(post('"k2"', { item: "lamp" }))).status).toBe(422);
    expect(orders).toHaveLength(1);
  });

  it("answers concurrent duplicates with one run: the rest get 409 or the replay", async () => {
    const { app, orders } = createApp();
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => app.request(post('"k3"', { item: "pen" }))),
    );
    expect(orders).toHaveLength(1);
    expect(responses.every((r) => r.status === 201 || r.status === 409)).toBe(true);
  });
});
