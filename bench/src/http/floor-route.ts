/**
 * `/floor`, a measuring stick, not a contender: the least an Express route can do and still keep
 * idemkit's guarantees on Redis, written by hand on node-redis 6 (`/floor-v4`: on node-idempotency's
 * node-redis 4). Per request it sends idemkit's own claim and completion scripts by `EVALSHA`, with no
 * NOSCRIPT retry (Redis's clock judges the lease, the record keeps its fence, and a stale owner cannot
 * complete), hashes the request into a fingerprint, makes an owner token, arms and clears an unused
 * timer (for a lease timer's cost), and on a replay checks the fingerprint and answers the stored status
 * and body. What it leaves out is what a library adds to that: an integration that captures any route's
 * response (here the route knows its own), headers kept, a body fingerprinted whatever its key order
 * (here `JSON.stringify`), a bound on each store call, heartbeats, options, errors, events, codecs.
 * Read `/floor` ÷ `node-idempotency` in turns (`interleave.ts`): below 1, the guarantees alone cost
 * more than node-idempotency's route on this path; above it, the difference is idemkit's layers.
 */
import { createHash, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import type { IdempotencyStore } from "@idemkit/core";
import type { RedisClientType } from "@redis/client";
import type { Request, Response } from "express";
// The scripts as the built store sends them (not exported by the package).
import { CLAIM, COMPLETE } from "../../../packages/redis/dist/esm/scripts.js";
import { freshRecord, RECORD_HEADER } from "../redis-record.js";

const LEASE_MS = 30_000;

/** The request's fingerprint: SHA-256 of method, path and the body as `JSON.stringify` gives it. */
const fingerprintOf = (req: Request) =>
  createHash("sha256")
    .update(`${req.method} ${req.path} ${JSON.stringify(req.body)}`)
    .digest("hex");

/** Answers a stored outcome, `<status>:<JSON body>` as the floors store it. */
function sendStored(res: Response, outcome: string): void {
  const colon = outcome.indexOf(":");
  res
    .status(Number(outcome.slice(0, colon)))
    .type("json")
    .send(outcome.slice(colon + 1));
}

/** Sends one command; bulk replies come back as Buffers. */
export type Send = (args: string[]) => Promise<unknown>;

/** `Send` on a node-redis 6 client. */
export const sendOn6 = (client: RedisClientType): Send => {
  const buffers = client.withTypeMapping({ 36: Buffer });
  return (args) => buffers.sendCommand(args);
};

/**
 * `Send` on a new client of node-idempotency's own node-redis (4.x, its Redis adapter's dependency),
 * so a floor can run on the client node-idempotency's route runs on. Returns it and its `quit`.
 */
export async function sendOnNodeIdempotencyClient(
  url: string,
): Promise<{ send: Send; quit: () => Promise<unknown> }> {
  const adapter = createRequire(import.meta.url).resolve("@node-idempotency/storage-adapter-redis");
  type Client4 = {
    connect(): Promise<unknown>;
    quit(): Promise<unknown>;
    sendCommand(args: string[], options?: object): Promise<unknown>;
  };
  const redis4 = createRequire(adapter)("redis") as {
    createClient(options: { url: string }): Client4;
    commandOptions(options: { returnBuffers: boolean }): object;
  };
  const client = redis4.createClient({ url });
  await client.connect();
  const buffers = redis4.commandOptions({ returnBuffers: true });
  return { send: (args) => client.sendCommand(args, buffers), quit: () => client.quit() };
}

/**
 * `mode` "script" sends both scripts; "set" writes a fresh in-progress record by `SET … NX GET` instead
 * of the claim script (local clock, judges nothing: new keys only, any other key answers 409), to tell
 * the claim script's share; "plain" also completes by a plain `SET` (no owner check: it keeps no
 * guarantee), node-idempotency's Redis traffic under the floor's JavaScript, to tell both scripts' share.
 */
export async function floorRoute(
  send: Send,
  keyPrefix: string,
  retentionMs: number,
  work: (body: unknown) => unknown,
  mode: "script" | "set" | "plain" = "script",
) {
  await send(["SCRIPT", "LOAD", CLAIM.lua]);
  await send(["SCRIPT", "LOAD", COMPLETE.lua]);
  const lease = String(LEASE_MS);
  const retention = String(retentionMs);

  return async (req: Request, res: Response) => {
    const key = req.get("idempotency-key");
    if (!key) return void res.status(400).json({ error: "Idempotency-Key required" });
    const redisKey = keyPrefix + key;
    const fingerprint = fingerprintOf(req);
    const token = randomUUID();
    const claimByScript = mode === "script";
    const reply: unknown = !claimByScript
      ? await send([
          "SET",
          redisKey,
          freshRecord(token, fingerprint, LEASE_MS, retentionMs),
          "NX",
          "GET",
          "PX",
          lease,
        ])
      : await send(["EVALSHA", CLAIM.sha, "1", redisKey, token, fingerprint, lease, retention]);
    // CLAIM answers [fence, takeover] when acquired, [record, aside] for a record kept aside.
    if (Array.isArray(reply) && typeof reply[0] !== "number")
      return void res.status(500).json({ error: "outcome kept aside: not supported here" });
    if (Array.isArray(reply) || (!claimByScript && reply === null)) {
      const timer = setTimeout(() => {}, LEASE_MS);
      const body = work(req.body);
      const outcome = `201:${JSON.stringify(body)}`;
      const stored: unknown =
        mode === "plain"
          ? await send(["SET", redisKey, outcome, "PX", retention]).then(() => 1)
          : await send(["EVALSHA", COMPLETE.sha, "1", redisKey, token, outcome, retention]);
      clearTimeout(timer);
      if (stored !== 1) return void res.status(409).json({ error: "lease lost" });
      return void res.status(201).json(body);
    }
    if (!claimByScript) return void res.status(409).json({ error: "not a new key" });
    const record = (reply as Buffer).toString("latin1");
    const head = RECORD_HEADER.exec(record);
    if (!head) return void res.status(500).json({ error: "not a record" });
    if (head[1] !== "c") return void res.status(409).json({ error: "in progress" });
    const at = head[0].length;
    const tokenLength = Number(head[7]);
    const stored = record.slice(at + tokenLength, at + tokenLength + Number(head[8]));
    if (stored !== fingerprint) return void res.status(422).json({ error: "fingerprint mismatch" });
    const outcome = (reply as Buffer).toString("utf8", at + tokenLength + Number(head[8]));
    sendStored(res, outcome);
  };
}

/**
 * `/floor-store`: `/floor` with the Redis store's `claim` and `complete` in place of the raw scripts
 * (the store on the same node-redis client): the store's own cost, read as `/floor-store` ÷ `/floor`.
 */
export function storeFloorRoute(
  store: IdempotencyStore,
  retentionMs: number,
  work: (body: unknown) => unknown,
) {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return async (req: Request, res: Response) => {
    const key = req.get("idempotency-key");
    if (!key) return void res.status(400).json({ error: "Idempotency-Key required" });
    const fingerprint = fingerprintOf(req);
    const token = randomUUID();
    const claimed = await store.claim(key, { token, fingerprint, leaseMs: LEASE_MS, retentionMs });
    if (claimed.acquired) {
      const timer = setTimeout(() => {}, LEASE_MS);
      const body = work(req.body);
      const result = encoder.encode(`201:${JSON.stringify(body)}`);
      const stored = await store.complete(key, token, { result, retentionMs });
      clearTimeout(timer);
      if (!stored) return void res.status(409).json({ error: "lease lost" });
      return void res.status(201).json(body);
    }
    const { record } = claimed;
    if (record.state !== "completed") return void res.status(409).json({ error: "in progress" });
    if (record.fingerprint !== fingerprint)
      return void res.status(422).json({ error: "fingerprint mismatch" });
    const outcome = decoder.decode(record.result);
    sendStored(res, outcome);
  };
}
