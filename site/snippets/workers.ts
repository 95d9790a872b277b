// src/index.ts of a Worker (module syntax).
import { createIdempotency, type IdempotencyStore } from "@idemkit/core";
import { accountIdOf, createOrder } from "./your-app.js";

interface Env {
  IDEMPOTENCY_URL: string;
}
/** A store that a Worker can reach: see "Writing your own store" (none of idemkit's is tested on Workers). */
declare function storeFor(env: Env): IdempotencyStore;

let idem: ReturnType<typeof createIdempotency> | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    // One instance per isolate, made on the first request (env arrives with it).
    idem ??= createIdempotency({ store: storeFor(env), scope: (r) => accountIdOf(r) });
    return idem.handle(request, async (req, { fence }) =>
      Response.json(await createOrder(await req.json(), { fence }), { status: 201 }),
    );
  },
};
