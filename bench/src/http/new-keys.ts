import { type Agent, request } from "node:http";
import { BODY } from "./run.js";

/**
 * `count` new-key requests (the bench's body, a fresh `Idempotency-Key` from `key()`) to `route`,
 * `connections` at a time, on `agent`'s connections (opened as the first requests go, closed by the
 * caller). Rejects on a status of 300 or more.
 */
export async function postNewKeys(
  agent: Agent,
  port: number,
  route: string,
  count: number,
  connections: number,
  key: () => string,
): Promise<void> {
  let left = count;
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          host: "127.0.0.1",
          port,
          method: "POST",
          path: `/${route}`,
          headers: { "content-type": "application/json", "idempotency-key": key() },
        },
        (res) => {
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${route} answered ${res.statusCode}`));
          res.resume();
          res.on("end", resolve);
        },
      );
      req.on("error", reject);
      req.end(BODY);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (left > 0) {
        left--;
        await post();
      }
    }),
  );
}
