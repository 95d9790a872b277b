import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { type Captor, capture, release } from "./captive-prototype.js";

const servers: { close(): void; closeAllConnections(): void }[] = [];
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function serve(listener: (res: ServerResponse) => void) {
  const server = createServer((_req, res) => listener(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A captor that records the route's calls and holds everything back. */
function recorder(): Captor & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    committed: false,
    writeHead: (status) => void calls.push(`writeHead ${status}`),
    write: (chunk) => {
      calls.push(`write ${String(chunk)}`);
      return true;
    },
    end: (chunk) => void calls.push(`end ${String(chunk)}`),
    commit: () => void calls.push("commit"),
    holdClose: () => false,
    touched: () => void calls.push("touched"),
  };
}

describe("the capture's prototype patch", () => {
  it("routes a captured response's calls to its captor, and nothing reaches the socket until release", async () => {
    const captor = recorder();
    let released!: () => void;
    const origin = await serve((res) => {
      capture(res, captor);
      res.writeHead(202, { "x-a": "1" });
      res.write("a");
      res.end("b");
      released = () => {
        release(res);
        res.end("real");
      };
      setTimeout(released, 20);
    });
    const response = await fetch(origin);
    expect(captor.calls).toEqual(["writeHead 202", "write a", "end b"]);
    expect([response.status, await response.text()]).toEqual([200, "real"]);
  });

  it("tells the captor of every header set, appended or removed, and still sets it", async () => {
    const captor = recorder();
    let headers: unknown;
    const told: number[] = [];
    const origin = await serve((res) => {
      capture(res, captor);
      const step = (change: () => void) => {
        const before = captor.calls.length;
        change();
        told.push(captor.calls.length - before);
      };
      step(() => res.setHeader("x-a", "1"));
      step(() => res.appendHeader("x-b", "2"));
      step(() => res.setHeader("x-c", "3"));
      step(() => res.removeHeader("x-c"));
      headers = res.getHeaders();
      release(res);
      step(() => res.setHeader("x-d", "4")); // released: no longer told
      res.end();
    });
    await (await fetch(origin)).text();
    expect(told.map((n) => n > 0)).toEqual([true, true, true, true, false]);
    expect(new Set(captor.calls)).toEqual(new Set(["touched"]));
    expect(headers).toEqual({ "x-a": "1", "x-b": "2" });
  });

  it("leaves every response it does not capture as node:http would write it, in this server and any other", async () => {
    const captured = await serve((res) => {
      capture(res, recorder());
      release(res);
      res.setHeader("content-type", "text/plain");
      res.writeHead(201, "Made", ["X-B", "2"]);
      res.write("a");
      res.end("b", () => {});
    });
    const other = await serve((res) => {
      res.writeHead(203, { "x-c": "3" });
      res.end("plain");
    });
    const first = await fetch(captured);
    expect([first.status, first.statusText, first.headers.get("x-b"), await first.text()]).toEqual([
      201,
      "Made",
      "2",
      "ab",
    ]);
    const second = await fetch(other);
    expect([second.status, second.headers.get("x-c"), await second.text()]).toEqual([203, "3", "plain"]);
  });

  it("composes with middleware that patches res.end as an own property (compression-style), before or after", async () => {
    const captor = recorder();
    const origin = await serve((res) => {
      const patchedEarly = res.end;
      res.end = function (this: ServerResponse, chunk?: unknown) {
        return patchedEarly.call(this, `[${String(chunk)}]`, "utf8") as ServerResponse;
      } as ServerResponse["end"];
      capture(res, captor);
      res.end("body");
      release(res);
      res.end("sent");
    });
    expect(await (await fetch(origin)).text()).toBe("[sent]");
    expect(captor.calls).toEqual(["end [body]"]);
  });

  it("reports headersSent true while a committed capture holds the response, node:http's own otherwise", async () => {
    const seen: boolean[] = [];
    const origin = await serve((res) => {
      const captor = { ...recorder(), committed: true };
      seen.push(res.headersSent);
      capture(res, captor);
      seen.push(res.headersSent);
      release(res);
      seen.push(res.headersSent);
      res.end("x");
      seen.push(res.headersSent);
    });
    await (await fetch(origin)).text();
    expect(seen).toEqual([false, true, false, true]);
  });
});
