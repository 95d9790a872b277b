import { serve } from "@hono/node-server";
import { createApp } from "./app.js";

const port = Number(process.env.PORT ?? 3000);
const { app } = createApp();
serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, () => {
  console.log(`Hono + idemkit on http://127.0.0.1:${port}`);
  console.log(
    `  curl -i -X POST http://127.0.0.1:${port}/orders -H 'content-type: application/json' -H 'Idempotency-Key: "k1"' -d '{"item":"book"}'`,
  );
});
