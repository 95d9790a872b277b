import { connect, createServer, type Server, type Socket } from "node:net";

interface Pair {
  client: Socket;
  upstream: Socket;
  /** One promise chain per direction keeps chunks in order through delays and blackholes. */
  up: Promise<void>;
  down: Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A loopback TCP proxy between the workers and the store that injects network faults: added
 * latency, a blackhole (nothing passes either way until it heals, as in a partition), connection
 * resets, and a reply dropped after the command was forwarded (the store applied it; the caller
 * never hears back and its connection dies).
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #delayMs = 0;
  #healed: Promise<void> | undefined;
  #heal: (() => void) | undefined;
  #dropReplies = 0;
  port = 0;
  readonly stats = { connections: 0, resets: 0, droppedReplies: 0, blackholes: 0 };

  constructor(readonly targetPort: number) {
    this.#server = createServer((client) => this.#accept(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  #accept(client: Socket): void {
    this.stats.connections++;
    client.setNoDelay(true);
    const upstream = connect({ port: this.targetPort, host: "127.0.0.1" });
    upstream.setNoDelay(true);
    const connected = new Promise<void>((resolve) => upstream.once("connect", () => resolve()));
    const pair: Pair = { client, upstream, up: connected, down: Promise.resolve() };
    this.#pairs.add(pair);
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.on("data", (chunk) => this.#forward(pair, "up", chunk));
    upstream.on("data", (chunk) => this.#forward(pair, "down", chunk));
  }

  #forward(pair: Pair, direction: "up" | "down", chunk: Buffer): void {
    if (direction === "down" && this.#dropReplies > 0) {
      // The command reached the store and ran; its reply vanishes and the connection dies.
      this.#dropReplies--;
      this.stats.droppedReplies++;
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
      return;
    }
    const target = direction === "up" ? pair.upstream : pair.client;
    pair[direction] = pair[direction]
      .then(async () => {
        if (this.#delayMs > 0) await sleep(this.#delayMs);
        while (this.#healed) await this.#healed;
        if (!target.destroyed) target.write(chunk);
      })
      .catch(() => {});
  }

  /** Adds `ms` of latency to every chunk, both ways (0 to stop). */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Holds every byte, both ways, for `ms`, then lets it through (a partition that heals). */
  async blackhole(ms: number): Promise<void> {
    this.stats.blackholes++;
    this.#healed = new Promise<void>((resolve) => {
      this.#heal = resolve;
    });
    await sleep(ms);
    const heal = this.#heal;
    this.#healed = undefined;
    heal?.();
  }

  /** Resets every open connection (RST to the worker). */
  resetAll(): void {
    for (const pair of this.#pairs) {
      this.stats.resets++;
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
  }

  /** The next `count` replies from the store are dropped after their command was forwarded. */
  dropNextReplies(count: number): void {
    this.#dropReplies += count;
  }

  async close(): Promise<void> {
    this.#heal?.();
    this.#healed = undefined;
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
