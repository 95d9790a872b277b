// main.ts — `deno add npm:@idemkit/core`, then `deno serve --allow-net main.ts`.
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { accountIdOf, createOrder } from "./your-app.js";

const idem = createIdempotency({
  store: createMemoryStore(), // this process only; a shared store for more than one
  scope: (request) => accountIdOf(request),
});

export default {
  fetch: idem.wrap(async (request, { fence }) => {
    return Response.json(await createOrder(await request.json(), { fence }), { status: 201 });
  }),
};
