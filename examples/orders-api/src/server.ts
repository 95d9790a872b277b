import { createServer, type Server } from "node:http";
import { createRequestListener } from "@idemkit/node";
import type { createOrdersApp } from "./app.js";

/** Serves the orders API's Web `fetch` handler over node:http on loopback. */
export function serve(
  app: ReturnType<typeof createOrdersApp>,
  port: number,
  host = "127.0.0.1",
): Promise<Server> {
  const server = createServer(createRequestListener(app.fetch));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
