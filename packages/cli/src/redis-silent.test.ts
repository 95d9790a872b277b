// A Redis URL whose server accepts the connection and never answers (a stalled proxy, a wrong port that
// happens to listen): the CLI must give up within --timeout, whichever client library it uses.
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idemkit, oneLine } from "./testing/run.js";

let server: Server;
const sockets = new Set<Socket>();
let url: string;

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `redis://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe("idemkit on a Redis that never answers", () => {
  for (const client of ["ioredis", "node-redis"]) {
    it(`fails with exit 4 after --timeout (${client})`, async () => {
      const ran = await idemkit(["ping", "--url", url, "--redis-client", client, "--timeout", "300ms"]);
      expect(ran.code).toBe(4);
      expect(oneLine(ran)).toBe(`idemkit: cannot reach the redis store at ${url}: no answer within 300ms`);
    });
  }
});
