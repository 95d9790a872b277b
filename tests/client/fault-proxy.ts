import { connect, createServer, type Server, type Socket } from "node:net";

/** What the proxy does to one client connection. */
export type Fault =
  | "pass"
  /** Forward the request; swallow the answer and cut the connection (the server did the work). */
  | "drop-response"
  /** Reset the connection at once, before anything reaches the server. */
  | "reset"
  /** Forward both ways, but hold the server's answer back for `ms`. */
  | { delayMs: number };

/**
 * A small TCP proxy on loopback that injects one fault per new connection, from a script; once the
 * script is used up it passes traffic through. Bounded: at most `maxConnections` open at once (one
 * more is refused), all closed by `close()`. Open ones, not all it ever took: a test file's retries add
 * up, more of them on a loaded machine, and a lifetime cap then refused every later connection.
 */
export async function faultProxy(target: { host: string; port: number }, maxConnections = 50) {
  const script: Fault[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let open = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    return socket;
  };

  const server: Server = createServer((client) => {
    track(client);
    connections++;
    if (open >= maxConnections) {
      client.destroy();
      return;
    }
    open++;
    client.once("close", () => open--);
    const fault = script.shift() ?? "pass";
    if (fault === "reset") {
      client.resetAndDestroy();
      return;
    }
    const upstream = track(connect(target.port, target.host));
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (fault === "drop-response") {
        client.destroy();
        upstream.destroy();
      } else if (fault === "pass") client.write(chunk);
      else
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
        }, fault.delayMs);
    });
    upstream.once("end", () => client.end());
    client.once("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  return {
    origin: `http://127.0.0.1:${port}`,
    /** Faults for the next connections, in order. */
    inject: (...faults: Fault[]) => script.push(...faults),
    /** Connections taken so far, refused ones included. */
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
