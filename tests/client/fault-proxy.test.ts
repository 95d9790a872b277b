import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultProxy } from "./fault-proxy.js";

const server = createServer((_req, res) => res.end("ok"));
beforeAll(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve)));
afterAll(() => new Promise((resolve) => server.close(resolve)));

const get = async (origin: string) =>
  await fetch(origin, { headers: { connection: "close" } })
    .then((r) => r.text())
    .catch(() => "refused");

describe("the fault proxy's connection bound", () => {
  it("counts connections open at once, not every one it took: connections in turn never run out", async () => {
    const proxy = await faultProxy({ host: "127.0.0.1", port: (server.address() as AddressInfo).port }, 2);
    try {
      for (let i = 0; i < 5; i++) expect(await get(proxy.origin)).toBe("ok");
      expect(proxy.connections).toBe(5);
    } finally {
      await proxy.close();
    }
  });
});
