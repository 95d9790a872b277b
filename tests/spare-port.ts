import { createServer } from "node:net";

/**
 * A free loopback port for the demo's server, from 20000–29999: below Linux's ephemeral range
 * (32768–60999), from which the suite's outgoing connections and port-0 servers take theirs, so none of
 * them can take it in the seconds the demo needs to start (one picked in 40000–49999 once was taken:
 * EADDRINUSE).
 */
export async function spareLoopbackPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free loopback port in 20000-29999");
}
