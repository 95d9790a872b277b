// #region app
import { createIdempotency, createMemoryStore } from "@idemkit/core";
import { Hono } from "hono";
import { accountIdOf, createOrder } from "./your-app.js";

const idem = createIdempotency({ store: createMemoryStore(), scope: (request) => accountIdOf(request) });
const app = new Hono();

app.post("/orders", (c) =>
  idem.handle(c.req.raw, async (request, { fence, signal }) => {
    // `request` is a fresh copy: idemkit read the original's body to fingerprint it
    const order = await createOrder(await request.json(), { fence, signal });
    return Response.json(order, { status: 201 });
  }),
);

export default app; // Bun, Deno (`deno serve`) and Workers serve a default export's fetch

// #endregion app

// #region node
import { serve } from "@hono/node-server";

serve({ fetch: app.fetch, port: 3000 });
// #endregion node
