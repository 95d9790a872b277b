import { createServer, type Server } from "node:http";
import { sendWebResponse, toWebRequest } from "@idemkit/node";
import type { createOrdersApp } from "./app.js";

/** Serves a Web `fetch` handler over node:http on loopback. */
export function serve(
  app: ReturnType<typeof createOrdersApp>,
  port: number,
  host = "127.0.0.1",
): Promise<Server> {
  const server = createServer(async (req, res) => {
    try {
      const response = await app.fetch(toWebRequest(req, { origin: `http://${req.headers.host ?? host}` }));
      await sendWebResponse(res, response);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
