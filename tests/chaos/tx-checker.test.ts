// The transactional checker must catch what it claims to catch: hand-made histories, one broken promise each.
import { encodeStoredResponse, type IdempotencyRecord } from "@idemkit/core";
import { describe, expect, it } from "vitest";
import type { ClientEntry } from "./checker.js";
import { checkTransactional } from "./tx-checker.js";
import type { LedgerEntry } from "./worker.js";

const key = "idem:http:0::k";
const answer = (execId: string) => JSON.stringify({ key: "k", fence: 1, w: "w1", execId });
const completed = (body: string): IdempotencyRecord => ({
  state: "completed",
  token: "t",
  fingerprint: "f",
  fence: 1,
  expiresAt: Date.now() + 60_000,
  result: encodeStoredResponse({
    status: 201,
    statusText: "",
    headers: [],
    body: new TextEncoder().encode(body),
  }),
});
const reply = (status: number, body: string, t: number, replayed = false): ClientEntry => ({
  key: "k",
  storedKey: key,
  route: "tx",
  status,
  body,
  replayed,
  t,
});
const ledger: LedgerEntry[] = [
  { e: "exec", key, fence: 1, execId: "a", w: "w1", t: 0 },
  { e: "tx-lost", key, where: "store", w: "w1", t: 1 },
  { e: "exec", key, fence: 1, execId: "b", w: "w2", t: 2 },
];
const run = (options: {
  client?: ClientEntry[];
  record?: IdempotencyRecord;
  rows?: string[];
  crashes?: string[];
}) =>
  checkTransactional({
    ledgers: [ledger],
    client: options.client ?? [
      reply(503, "", 1),
      reply(201, answer("b"), 3),
      reply(201, answer("b"), 4, true),
    ],
    final: new Map([[key, "record" in options ? options.record : completed(answer("b"))]]),
    committed: new Map([[key, (options.rows ?? ["b"]).map((execId) => ({ execId, w: "w2" }))]]),
    crashes: options.crashes ?? [],
  });

describe("transactional chaos checker", () => {
  it("accepts a cut transaction (503), then one commit whose outcome every 2xx carries", () => {
    const r = run({});
    expect(r.violations).toEqual([]);
    expect(r).toMatchObject({ executions: 2, cut: 1, unackedAnswers: 0 });
  });

  it("flags a crashed worker", () => {
    expect(run({ crashes: ["w1 exited (1): Unhandled 'error' event"] }).violations).toEqual([
      "a worker crashed: w1 exited (1): Unhandled 'error' event",
    ]);
  });

  it("flags two committed business rows, or none", () => {
    expect(run({ rows: ["a", "b"] }).violations).toEqual([`${key}: 2 committed business rows (a, b)`]);
    expect(run({ rows: [] }).violations).toEqual([`${key}: 0 committed business rows ()`]);
  });

  it("flags a stored outcome that names another execution than the committed row", () => {
    expect(run({ rows: ["a"] }).violations).toEqual([
      `${key}: the stored outcome names b, the committed row a`,
    ]);
  });

  it("flags a 2xx that is not the stored outcome, a 500 or a 409, and a key left without a record", () => {
    const r = run({ client: [reply(201, answer("a"), 1), reply(500, "boom", 2), reply(409, "", 3)] });
    expect(r.unackedAnswers).toBe(1);
    expect(r.violations).toEqual([
      `${key}: 2xx ${answer("a")} is not the stored outcome ${answer("b")}`,
      `${key}: unexpected status 500: boom`,
      `${key}: unexpected status 409: `,
    ]);
    expect(run({ record: undefined }).violations).toContain(`${key}: ends with no record`);
  });
});
