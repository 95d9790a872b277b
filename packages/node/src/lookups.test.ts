import { createServer, type IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { capture, release } from "./captive-prototype.js";
import { bodyEnded, headersOf, headersSentOf } from "./lookups.js";

const servers: { close(): void; closeAllConnections(): void }[] = [];
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** One POST to a server whose listener is `listener`; what the listener returns, once it returns it. */
async function onRequest<T>(listener: (req: IncomingMessage, res: ServerResponse) => Promise<T>): Promise<T> {
  let result!: Promise<T>;
  const server = createServer((req, res) => {
    result = listener(req, res);
    result.finally(() => res.end()).catch(() => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "body" });
  return result;
}

/** As Express does to every request and response: its app's prototype, over the class's, one for all. */
const appPrototypes = new Map<object, object>();
function expressLike<T extends object>(target: T): T {
  const classPrototype = Object.getPrototypeOf(target) as object;
  let app = appPrototypes.get(classPrototype);
  if (app === undefined) {
    app = Object.create(classPrototype) as object;
    appPrototypes.set(classPrototype, app);
  }
  return Object.setPrototypeOf(target, app);
}

describe("reads that skip the prototype walk: the same answers as the reads they replace", () => {
  it("headersOf and headersSentOf, on a response moved onto an app's prototype, before and after its head went out", async () => {
    const seen = await onRequest(async (_req, res) => {
      expressLike(res);
      res.setHeader("x-a", "1");
      const before = [headersOf(res), headersSentOf(res), res.headersSent];
      res.writeHead(201);
      return [...before, headersOf(res), headersSentOf(res), res.headersSent];
    });
    expect(seen).toEqual([{ "x-a": "1" }, false, false, { "x-a": "1" }, true, true]);
  });

  it("each prototype's own override: a framework's getHeaders, or a headersSent getter", async () => {
    const seen = await onRequest(async (_req, res) => {
      const proto = Object.create(ServerResponse.prototype, {
        getHeaders: { value: () => ({ from: "override" }) },
        headersSent: { get: () => "overridden" },
      });
      Object.setPrototypeOf(res, proto);
      // A response of the plain class right after: its own prototype's functions, not the last one's.
      const plain = new ServerResponse({ method: "GET", httpVersionMajor: 1 } as IncomingMessage);
      plain.setHeader("x-plain", "1");
      return [headersOf(res), headersSentOf(res), headersOf(plain), headersSentOf(plain)];
    });
    expect(seen).toEqual([{ from: "override" }, true, { "x-plain": "1" }, false]);
  });

  it("a response's own getHeaders (patched on the object) is the one called", async () => {
    const seen = await onRequest(async (_req, res) => {
      headersOf(res); // found on the prototype first
      Object.defineProperty(res, "getHeaders", { value: () => ({ own: "yes" }) });
      return headersOf(res);
    });
    expect(seen).toEqual({ own: "yes" });
  });

  it("bodyEnded: a request moved onto an app's prototype, before and after its body was read", async () => {
    const seen = await onRequest(async (req) => {
      expressLike(req);
      const before = [bodyEnded(req), req.readableEnded];
      for await (const _ of req);
      return [...before, bodyEnded(req), req.readableEnded];
    });
    expect(seen).toEqual([false, false, true, true]);
  });

  it("bodyEnded on other streams and on an object that only says it (a test double)", async () => {
    const stream = new PassThrough();
    const ended = [bodyEnded(stream as unknown as IncomingMessage)];
    stream.end("x");
    stream.resume();
    await new Promise((resolve) => stream.on("end", resolve));
    ended.push(bodyEnded(stream as unknown as IncomingMessage));
    const double = { readableEnded: true } as IncomingMessage;
    ended.push(bodyEnded(double), bodyEnded({} as IncomingMessage));
    expect(ended).toEqual([false, true, true, false]);
  });

  it("a prototype the capture patches after a request read it (HTTP/2's, patched at its first capture) is read patched", async () => {
    // A response class with its own writeHead, as Http2ServerResponse has: patched by its first capture.
    class LateResponse extends ServerResponse {}
    Object.defineProperty(LateResponse.prototype, "writeHead", {
      configurable: true,
      writable: true,
      value(this: ServerResponse, ...args: unknown[]) {
        return (ServerResponse.prototype.writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
      },
    });
    const request = { method: "GET", httpVersionMajor: 1 } as IncomingMessage;
    const first = new LateResponse(request);
    const before = headersSentOf(first); // found unpatched, and remembered
    const second = new LateResponse(request);
    capture(second, { ...recorder(), committed: true });
    try {
      expect([before, headersSentOf(second), second.headersSent]).toEqual([false, true, true]);
    } finally {
      release(second);
    }
  });
});

/** A captor that holds everything back and tells nothing. */
function recorder() {
  return {
    committed: false,
    writeHead: () => {},
    write: () => true,
    end: () => {},
    commit: () => {},
    holdClose: () => false,
    touched: () => {},
  };
}
