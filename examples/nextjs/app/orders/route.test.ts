import { describe, expect, it } from "vitest";
import { GET, POST } from "./route.js";

// Next.js calls the exported functions with a Web Request; so do these tests.
const post = (key: string, body: unknown) =>
  new Request("http://localhost/orders", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
  });

describe("the Next.js route handler (app/orders/route.ts)", () => {
  it("POST creates once per key; a retry replays; GET lists one order", async () => {
    const key = `"${crypto.randomUUID()}"`;
    const first = await POST(post(key, { item: "book", quantity: 2 }));
    const retry = await POST(post(key, { quantity: 2, item: "book" }));
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    const order = await first.json();
    expect(await retry.json()).toEqual(order);
    const listed = (await (await GET()).json()) as { id: string }[];
    expect(listed.filter((o) => o.id === order.id)).toHaveLength(1);
  });

  it("a 400 for a bad body is stored too: the same key and body get the same 400", async () => {
    const key = `"${crypto.randomUUID()}"`;
    expect((await POST(post(key, { item: 1 }))).status).toBe(400);
    const again = await POST(post(key, { item: 1 }));
    expect(again.status).toBe(400);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
  });

  it("needs a key, and refuses a key reused with another body", async () => {
    const missing = await POST(new Request("http://localhost/orders", { method: "POST", body: "{}" }));
    expect(missing.status).toBe(400);
    const key = `"${crypto.randomUUID()}"`;
    await POST(post(key, { item: "pen", quantity: 1 }));
    expect((await POST(post(key, { item: "pen", quantity: 5 }))).status).toBe(422);
  });
});
