import { randomUUID } from "node:crypto";
import { Agent, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createIdempotency, createMemoryStore, type Problem, type RenderedProblem } from "@idemkit/core";
import { idempotency } from "@idemkit/express";
import express, { type Request } from "express";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { faultProxy } from "./fault-proxy.js";

// The official Stripe Node SDK against a tiny Stripe look-alike (POST /v1/customers,
// GET /v1/customers/:id) with @idemkit/express in front, reached through the fault proxy.
//
// What the SDK does, read from stripe@23 (cjs/RequestSender.js, cjs/Error.js):
// - every v1 POST carries `Idempotency-Key: stripe-node-retry-<uuid>` unless one is passed, and
//   every retry of one call reuses it;
// - it retries connection errors and timeouts, 409 and 5xx (unless `Stripe-Should-Retry: false`),
//   up to `maxNetworkRetries`, sleeping 0.5 s before the first retry (0.5–1 s, 1–2 s after);
// - a response is an error only if its JSON has an `error` member; `error.type` picks the class,
//   and `idempotency_error` becomes StripeIdempotencyError only on 400 and 404 — any other status
//   (422 included) gives StripeAPIError with `rawType: "idempotency_error"`.

type Answer = { key: string | undefined; status: number; replayed: boolean };
type Customer = { id: string; object: "customer"; name: string | null; email: string | null; owner: string };

/** Stripe's error envelope for every answer idemkit makes itself; `status` as idemkit chose it. */
const stripeEnvelope = (problem: Problem): RenderedProblem => ({
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    error: { type: "idempotency_error", message: problem.detail, code: problem.type },
  }),
});

const apiKeyOf = (req: Request) => /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];

/** One Stripe look-alike; `renderProblem` undefined means idemkit's default problem+json. */
async function startApi(renderProblem: ((problem: Problem) => RenderedProblem) | undefined) {
  const customers = new Map<string, Customer>();
  const state = {
    executions: 0,
    /** What the next execution of the create route waits for before it answers (then nothing). */
    nextWork: undefined as (() => Promise<unknown>) | undefined,
    /** Every form body as it arrived, in order. */
    rawBodies: [] as string[],
    /** The idempotency key of every request that reached the app, in order of arrival. */
    requests: [] as (string | undefined)[],
    /** Every answer the server finished writing, in order (not those to a client already gone). */
    answers: [] as Answer[],
    onAnswer: undefined as ((answer: Answer) => void) | undefined,
  };

  const app = express();
  app.use((req, res, next) => {
    state.requests.push(req.get("idempotency-key"));
    res.on("finish", () => {
      const answer = {
        key: req.get("idempotency-key"),
        status: res.statusCode,
        replayed: res.getHeader("idempotent-replayed") === "true",
      };
      state.answers.push(answer);
      state.onAnswer?.(answer);
    });
    next();
  });
  app.use(
    express.urlencoded({
      extended: true,
      verify: (_req, _res, buf) => {
        state.rawBodies.push(buf.toString());
      },
    }),
  );
  app.use(idempotency(createIdempotency({ store: createMemoryStore() }), { scope: apiKeyOf, renderProblem }));
  app.post("/v1/customers", async (req, res) => {
    state.executions++;
    const work = state.nextWork;
    state.nextWork = undefined;
    await work?.();
    const body = req.body as { name?: string; email?: string };
    const customer: Customer = {
      id: `cus_${randomUUID().replaceAll("-", "").slice(0, 14)}`,
      object: "customer",
      name: body.name ?? null,
      email: body.email ?? null,
      owner: apiKeyOf(req)!,
    };
    customers.set(customer.id, customer);
    res.json(customer);
  });
  app.get("/v1/customers/:id", (req, res) => {
    const customer = customers.get(req.params.id);
    if (!customer || customer.owner !== apiKeyOf(req)) {
      res.status(404).json({
        error: { type: "invalid_request_error", code: "resource_missing", message: "No such customer" },
      });
      return;
    }
    res.json(customer);
  });

  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = await faultProxy({ host: "127.0.0.1", port: (server.address() as AddressInfo).port }, 200);
  const agents: Agent[] = [];

  return {
    state,
    proxy,
    /** An SDK client on the proxy; no keep-alive, so each attempt is a new connection the proxy scripts. */
    stripe(apiKey = "sk_test_alice", config: { timeout?: number } = {}) {
      const agent = new Agent({ keepAlive: false });
      agents.push(agent);
      return new Stripe(apiKey, {
        host: "127.0.0.1",
        port: Number(new URL(proxy.origin).port),
        protocol: "http",
        maxNetworkRetries: 3,
        httpAgent: agent,
        telemetry: false,
        ...config,
      });
    },
    async close() {
      await proxy.close();
      for (const agent of agents) agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

type Api = Awaited<ReturnType<typeof startApi>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    const value = await promise;
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    return error;
  }
}

let api: Api;
beforeAll(async () => {
  api = await startApi(stripeEnvelope);
});
afterAll(async () => {
  await api?.close();
});

/** Runs `fn`; how many times the create route executed meanwhile, the requests and answers seen. */
async function observed<T>(target: Api, fn: () => Promise<T>) {
  const executions = target.state.executions;
  const requests = target.state.requests.length;
  const answers = target.state.answers.length;
  const result = await fn();
  return {
    result,
    executions: target.state.executions - executions,
    requests: target.state.requests.slice(requests),
    answers: target.state.answers.slice(answers),
  };
}

describe("the Stripe Node SDK against a Stripe look-alike behind @idemkit/express", () => {
  it("1. a plain create: one execution, the SDK parses the customer (and can retrieve it)", async () => {
    const stripe = api.stripe();
    const {
      result: customer,
      executions,
      answers,
    } = await observed(api, () =>
      stripe.customers.create({ name: "Ada Lovelace", email: "ada@example.com" }),
    );
    expect(executions).toBe(1);
    expect(customer).toMatchObject({ object: "customer", name: "Ada Lovelace", email: "ada@example.com" });
    expect(customer.id).toMatch(/^cus_/);
    expect(customer.lastResponse.statusCode).toBe(200);
    expect(answers).toEqual([
      { key: expect.stringMatching(/^stripe-node-retry-/), status: 200, replayed: false },
    ]);

    // GET is not covered: straight to the route.
    const again = await stripe.customers.retrieve(customer.id);
    expect(again).toMatchObject({ id: customer.id, name: "Ada Lovelace" });
  });

  it("2. the reply is lost after the server handled it: the SDK retries with its key, gets the stored customer", async () => {
    const stripe = api.stripe();
    api.proxy.inject("drop-response");
    const {
      result: customer,
      executions,
      answers,
    } = await observed(api, () => stripe.customers.create({ name: "Lost Reply" }));
    expect(executions).toBe(1);
    expect(answers).toHaveLength(2);
    const [first, retry] = answers;
    expect(first).toMatchObject({ status: 200, replayed: false });
    expect(retry).toEqual({ ...first, replayed: true }); // same key, replayed
    expect(first!.key).toMatch(/^stripe-node-retry-/);
    expect(customer.name).toBe("Lost Reply");
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id }); // the one stored
    expect(customer.lastResponse.headers["idempotent-replayed"]).toBe("true");
  });

  it("3. the route outlasts the SDK's timeout on the first attempt: run once, the original customer", async () => {
    const stripe = api.stripe("sk_test_alice", { timeout: 400 });
    // The SDK gives up at 400 ms and retries 500 ms or more later: 650 ms of work lands 250 ms from
    // each, and the retry's replay has 400 ms to answer (150 ms was once too few for a loaded CI run:
    // the replay timed out and a third attempt came), so a stall does not move the answer either way.
    api.state.nextWork = () => sleep(650);
    const {
      result: customer,
      executions,
      requests,
      answers,
    } = await observed(api, () => stripe.customers.create({ name: "Slow Route" }));
    expect(executions).toBe(1);
    expect(customer.name).toBe("Slow Route");
    expect(customer.lastResponse.headers["idempotent-replayed"]).toBe("true");
    // Two attempts with one key; the original's answer went to a connection the SDK had closed.
    expect(requests).toEqual([expect.stringMatching(/^stripe-node-retry-/), requests[0]]);
    expect(answers).toEqual([{ key: requests[0], status: 200, replayed: true }]);
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ id: customer.id });
  });

  it("4. a key reused with other parameters: the Stripe envelope makes the SDK reject (422, not a customer)", async () => {
    const stripe = api.stripe();
    const idempotencyKey = `reuse-${randomUUID()}`;
    const { result, executions } = await observed(api, async () => {
      const first = await stripe.customers.create({ name: "First" }, { idempotencyKey });
      const error = await rejectionOf(stripe.customers.create({ name: "Second" }, { idempotencyKey }));
      return { first, error };
    });
    expect(executions).toBe(1);
    expect(result.first.name).toBe("First");
    // Status kept at 422: the SDK's idempotency_error -> StripeIdempotencyError mapping is only for
    // 400 and 404, so this is a StripeAPIError whose raw type is idempotency_error.
    expect(result.error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(result.error).toMatchObject({
      type: "StripeAPIError",
      rawType: "idempotency_error",
      statusCode: 422,
      code: "key-reused",
    });
    expect(result.error.message).toMatch(/.+/);
  });

  it("4b. the same envelope with status 400 (what Stripe itself sends): StripeIdempotencyError", async () => {
    const at400 = await startApi((problem) => ({
      ...stripeEnvelope(problem),
      ...(problem.type === "key-reused" ? { status: 400 } : {}),
    }));
    try {
      const stripe = at400.stripe();
      const idempotencyKey = `reuse-${randomUUID()}`;
      await stripe.customers.create({ name: "First" }, { idempotencyKey });
      const error = await rejectionOf(stripe.customers.create({ name: "Second" }, { idempotencyKey }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
      expect(error).toMatchObject({ type: "StripeIdempotencyError", statusCode: 400, code: "key-reused" });
      expect(at400.state.executions).toBe(1);
    } finally {
      await at400.close();
    }
  });

  it("4c. WITHOUT renderProblem (problem+json): the SDK resolves the 422 problem as if it were a customer", async () => {
    // The SDK only treats a JSON body with an `error` member as an error, whatever the status
    // (RequestSender._jsonResponseHandler). idemkit's default problem+json has none, so the caller
    // gets `{ type: "urn:idemkit:problem:key-reused", title, status: 422, detail }` back from
    // `customers.create` — no id, no rejection; only `lastResponse.statusCode` tells.
    const plain = await startApi(undefined);
    try {
      const stripe = plain.stripe();
      const idempotencyKey = `reuse-${randomUUID()}`;
      const first = await stripe.customers.create({ name: "First" }, { idempotencyKey });
      const second = await stripe.customers.create({ name: "Second" }, { idempotencyKey });
      expect(plain.state.executions).toBe(1);
      expect(first.id).toMatch(/^cus_/);
      expect(second.id).toBeUndefined();
      expect({ ...second }).toMatchObject({
        type: "urn:idemkit:problem:key-reused",
        title: "Idempotency key reused",
        status: 422,
      });
      expect(second.lastResponse.statusCode).toBe(422);
      expect(second.lastResponse.headers["content-type"]).toMatch(/^application\/problem\+json/);
    } finally {
      await plain.close();
    }
  });

  it("5. the same form fields in another order with the same key: a replay, not 422", async () => {
    const stripe = api.stripe();
    const idempotencyKey = `order-${randomUUID()}`;
    const bodies = api.state.rawBodies.length;
    const { result, executions } = await observed(api, async () => {
      const first = await stripe.customers.create(
        { name: "Grace", email: "grace@example.com" },
        { idempotencyKey },
      );
      const second = await stripe.customers.create(
        { email: "grace@example.com", name: "Grace" },
        { idempotencyKey },
      );
      return { first, second };
    });
    // The SDK encodes fields in the object's key order: two different bodies on the wire…
    expect(api.state.rawBodies.slice(bodies)).toEqual([
      "name=Grace&email=grace%40example.com",
      "email=grace%40example.com&name=Grace",
    ]);
    // …fingerprinted from the parsed req.body, canonically: the same request.
    expect(executions).toBe(1);
    expect(result.second.id).toBe(result.first.id);
    expect(result.second.lastResponse.headers["idempotent-replayed"]).toBe("true");
  });

  it("6. two API keys, the same idempotency key and params: a customer each, each retry replays its own", async () => {
    const alice = api.stripe("sk_test_alice");
    const bob = api.stripe("sk_test_bob");
    const idempotencyKey = `shared-${randomUUID()}`;
    const params = { name: "Same Name", email: "same@example.com" };
    const { result, executions } = await observed(api, async () => {
      const a1 = await alice.customers.create(params, { idempotencyKey });
      const b1 = await bob.customers.create(params, { idempotencyKey });
      const a2 = await alice.customers.create(params, { idempotencyKey });
      const b2 = await bob.customers.create(params, { idempotencyKey });
      return { a1, b1, a2, b2 };
    });
    expect(executions).toBe(2);
    const { a1, b1, a2, b2 } = result;
    expect(a1.id).not.toBe(b1.id);
    expect(a2.id).toBe(a1.id);
    expect(b2.id).toBe(b1.id);
    expect(a2.lastResponse.headers["idempotent-replayed"]).toBe("true");
    expect(b2.lastResponse.headers["idempotent-replayed"]).toBe("true");
    expect((a1 as unknown as Customer).owner).toBe("sk_test_alice");
    expect((b1 as unknown as Customer).owner).toBe("sk_test_bob");
    // Each is the caller's own: the other key cannot see it.
    const missing = await rejectionOf(bob.customers.retrieve(a1.id));
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  });

  it("7. a duplicate while the first is in flight: 409 from idemkit, the SDK retries, ends with the first customer", async () => {
    const stripe = api.stripe();
    const idempotencyKey = `dup-${randomUUID()}`;
    // The first run starts, then holds its answer until idemkit has told the duplicate 409; the
    // SDK's retry of the duplicate comes 500 ms after that 409.
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const conflicted = new Promise<void>((resolve) => {
      api.state.onAnswer = (answer) => {
        if (answer.key === idempotencyKey && answer.status === 409) resolve();
      };
    });
    api.state.nextWork = () => {
      started();
      return conflicted;
    };
    const { result, executions, answers } = await observed(api, async () => {
      const first = stripe.customers.create({ name: "Concurrent" }, { idempotencyKey });
      await running;
      const second = stripe.customers.create({ name: "Concurrent" }, { idempotencyKey });
      return { first: await first, second: await second };
    }).finally(() => {
      api.state.onAnswer = undefined;
    });
    expect(executions).toBe(1);
    expect(result.second.id).toBe(result.first.id);
    expect(result.second.lastResponse.headers["idempotent-replayed"]).toBe("true");
    expect(answers.map((a) => [a.status, a.replayed])).toEqual([
      [409, false], // the duplicate, while the first runs
      [200, false], // the first
      [200, true], // the duplicate's retry, 0.5 s later
    ]);
  });
});
