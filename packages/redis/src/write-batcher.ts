// One write for the store's commands that leave together on an ioredis connection (see writeBatcher).
import { performance } from "node:perf_hooks";
// The module's own, not the globals: a test's fake timers (which replace the globals) must not hold
// the store's commands in a corked socket until the fake clock moves.
import { setImmediate } from "node:timers";
import type { Redis as IoredisRedis } from "ioredis";

/**
 * A corked socket is flushed once it holds BATCH_COMMANDS of our commands; while the batch is still in
 * the tick it was corked in, once it holds a quarter of those awaiting replies when that is fewer (at
 * least BATCH_LEAST)... Commands of one tick are the continuations of replies read together: the batch
 * is Redis's next work, and at 16 in flight batches of 8 made Redis and Node take turns, each idle while
 * the other ran half of them (4 ran new keys 1.14-1.24x as fast; replays, one cheap script each,
 * 0.90-0.96x for the extra writes). Commands of later ticks come from callbacks of their own (an HTTP
 * request read from each socket) while Node, not Redis, is the limit: fewer writes count there.
 */
const BATCH_LEAST = 4;
const BATCH_SHARE_OF_FEW = 1 / 4;
const BATCH_COMMANDS = 8;
/**
 * ...or an eighth of those awaiting, when that is more: Redis then has their work ahead of the
 * batch, so holding more idles nothing, and saves writes. Past its first cap (the one above) a batch
 * held BATCH_MAX_WAIT_MS leaves at its next command even in its own tick: handlers that each work a
 * while before their next command would otherwise hold the first ones for many of them (tens of ms
 * with 2,048 in flight).
 */
const BATCH_SHARE_OF_AWAITING = 1 / 8;
/**
 * How long a batch may wait for company: a command of ours in a later tick than the batch's first (or
 * past its first cap, in any tick), this long after it, flushes the batch first.
 */
const BATCH_MAX_WAIT_MS = 1;

/**
 * One batcher per client, shared by every store on it: two would each cork the socket, and the cap of
 * one would hold nothing back while the other's cork lasts.
 */
const batchers = new WeakMap<IoredisRedis, ReturnType<typeof writeBatcher>>();
export function writeBatcherOf(client: IoredisRedis) {
  let batcher = batchers.get(client);
  if (batcher === undefined) {
    batcher = writeBatcher(client);
    batchers.set(client, batcher);
  }
  return batcher;
}

/**
 * While other commands of ours await their replies, the next ones leave in few writes: the socket is
 * corked at the first and uncorked at its cap (8 commands, fewer in the tick it was corked in, or an
 * eighth of those awaiting replies when that is more), or once the event loop's current phase has run
 * its callbacks (`setImmediate`, as node-redis uncorks). ioredis writes each command at once, and on
 * loopback a write costs more than a script's whole run in Redis: with many requests in flight, replies
 * arrive together and the commands they start go out together, and so do the claims of HTTP requests
 * read in one pass of the loop (each socket's data is its own callback, so a flush at the end of each
 * callback's tick wrote them one by one). A cap rather than one write per pass, so Redis starts on the
 * first commands while Node prepares the rest (one write per tick measured slower: the two took turns);
 * a lone command goes out at once. Bytes are never reordered, so replies match as before.
 */
function writeBatcher(client: IoredisRedis) {
  let corked: { uncork(): void } | undefined;
  let corkedAt = 0;
  // Ticks are counted from a cork: commands sent in one synchronous run always share its batch.
  let tick = 0;
  let corkTick = 0;
  /**
   * A batch that left in its own tick below BATCH_COMMANDS: when it was corked, and the commands it and
   * the tick's batches before it held. The tick's next batch counts as one with them, its wait bound
   * from that time and, in later ticks, its cap of 8 with their commands. This does not bound every
   * command by one batch of 8: in its own tick the next batch still needs its own first cap, so behind
   * handlers that block the loop a command can leave a few ms later than it would have.
   */
  let leftAt: number | undefined;
  let leftHeld = 0;
  const nextTick = () => {
    tick++;
    leftAt = undefined;
  };
  let held = 0;
  /** The commands of the tick's earlier batches this one counts as one with (`leftHeld`). */
  let carried = 0;
  let awaiting = 0;
  /** Inside `together`: the cap waits for the group's last command. */
  let grouping = false;
  const flush = () => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  /** Corks `stream` for a new batch of ours. */
  const cork = (stream: { cork(): void; uncork(): void }) => {
    stream.cork();
    corked = stream;
    corkedAt = performance.now();
    corkTick = tick;
    held = 0;
    carried = 0;
  };
  /** Flushes a batch that is due, handing on its wait bound and count when it left below BATCH_COMMANDS. */
  const leave = () => {
    leftHeld = held + carried;
    leftAt = leftHeld < BATCH_COMMANDS && tick === corkTick ? corkedAt : undefined;
    flush();
  };
  const answered = () => {
    awaiting--;
  };
  /** Whether the batch has waited for company as long as it may. */
  const heldLong = () => performance.now() - corkedAt >= BATCH_MAX_WAIT_MS;
  /** The cap before which no batch leaves: 8, or a quarter of those awaiting in the tick it was corked in. */
  const firstCap = () =>
    tick === corkTick
      ? Math.min(BATCH_COMMANDS, Math.max(BATCH_LEAST, awaiting * BATCH_SHARE_OF_FEW))
      : BATCH_COMMANDS;
  /**
   * Whether the batch leaves now: at its cap, or past its first cap once held BATCH_MAX_WAIT_MS; in
   * later ticks than its own, counted with the tick's earlier batches (`carried`).
   */
  const due = () => {
    const count = tick === corkTick ? held : held + carried;
    return count >= firstCap() && (count >= awaiting * BATCH_SHARE_OF_AWAITING || heldLong());
  };
  return {
    /**
     * Before a command: cork the socket if others await replies and it is not corked yet. A batch
     * held BATCH_MAX_WAIT_MS or more by the phase's other callbacks leaves first (never between the
     * commands of a `together` group), so its wait is bounded by the next command of ours, not only
     * by the end of a phase of long callbacks. Ticks end only after the microtasks queued before
     * them: commands sent from promise continuations of one drain (replies read together, each
     * followed by long work) share the cork's tick and leave at the cap (or past their first cap,
     * once held BATCH_MAX_WAIT_MS) or at the phase's end.
     */
    hold() {
      if (!grouping && corked !== undefined && tick !== corkTick && heldLong()) flush();
      if (awaiting === 0 || corked !== undefined || client.status !== "ready") return;
      const stream = (client as unknown as { stream?: { cork?(): void; uncork(): void } }).stream;
      if (typeof stream?.cork !== "function") return;
      cork(stream as { cork(): void; uncork(): void });
      if (leftAt !== undefined) {
        corkedAt = leftAt;
        carried = leftHeld;
      }
      process.nextTick(nextTick);
      setImmediate(flush);
    },
    /**
     * Runs `send`, whose commands must leave in one write: the batch's cap does not flush between
     * them. Alone (nothing of ours awaits a reply) they leave at once; otherwise they join the batch,
     * corked as `hold` corks.
     */
    together(send: () => void): void {
      const stream = (client as unknown as { stream?: { cork?(): void; uncork(): void } }).stream;
      if (client.status !== "ready" || typeof stream?.cork !== "function") {
        send();
        return;
      }
      const alone = corked === undefined && awaiting === 0;
      if (alone) cork(stream as { cork(): void; uncork(): void });
      grouping = true;
      try {
        send();
      } finally {
        grouping = false;
        if (alone) flush();
        else if (due()) leave();
      }
    },
    /** After it: count it until it is answered; flush once the socket holds a batch's worth of ours. */
    sent(reply: Promise<unknown>) {
      awaiting++;
      reply.then(answered, answered);
      if (corked === undefined) return;
      held++;
      if (!grouping && due()) leave();
    },
  };
}
