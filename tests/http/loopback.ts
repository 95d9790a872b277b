import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll } from "vitest";
import type { Send } from "./behaviour-suite.js";

/**
 * Starts servers on 127.0.0.1 port 0 and turns the suite's `Request`s (addressed to any origin) into
 * real HTTP requests to them with `fetch`. Every server is closed in `afterAll`.
 */
export function loopback() {
  const servers = new Set<{ close(): Promise<unknown> }>();
  afterAll(async () => {
    await Promise.all([...servers].map((s) => s.close()));
  });

  return {
    /** Listens on an ephemeral loopback port; returns the origin. */
    async listen(server: Server): Promise<string> {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
      servers.add({
        close: () =>
          new Promise((resolve) => {
            server.closeAllConnections();
            server.close(resolve);
          }),
      });
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    /** Registers something else to close (a Fastify instance). */
    track(closable: { close(): Promise<unknown> }) {
      servers.add(closable);
    },
  };
}

/** Sends `request` to `origin`, keeping its path, method, headers and body. */
export function sendTo(origin: string): Send {
  return async (request) => {
    const url = new URL(request.url);
    const body = request.body === null ? undefined : await request.arrayBuffer();
    return fetch(`${origin}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body,
      redirect: "manual",
    });
  };
}
