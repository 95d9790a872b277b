import { createServer } from "node:http";
import { createIdempotency, createMemoryStore, type IdempotencyEvent } from "@idemkit/core";
import type { IdempotencyState } from "@idemkit/koa";
import Koa from "koa";
import Koa2 from "koa2";
import type { loopback } from "./loopback.js";
import { type RawResponse, raw } from "./raw-http.js";

/** Test glue for the Koa-specific tests: each Koa major, an app on loopback, raw requests to it. */

/** Koa 3 and Koa 2 (the `koa2` alias): the tests run on both. */
export const KOA_MAJORS = [
  ["Koa 3", Koa],
  ["Koa 2", Koa2 as unknown as typeof Koa],
] as const;

/** The state of the tests' apps: the middleware's, and the caller's account an earlier middleware sets. */
export type State = IdempotencyState & { account?: string };

/** Headers of a response as the client saw them, without the ones that vary per response. */
export function headersOf(response: RawResponse): [string, string][] {
  return response.lines.filter(
    ([name]) => !["date", "connection", "idempotent-replayed", "keep-alive"].includes(name),
  );
}

/** An instance on the memory store, recording its events, and a way to start apps of one Koa major. */
export function koaTarget(servers: ReturnType<typeof loopback>, major: string, make: typeof Koa) {
  const events: IdempotencyEvent[] = [];
  const idem = createIdempotency({ store: createMemoryStore(), onEvent: (e) => events.push(e) });
  const tag = major.replace(" ", ""); // keys are tokens: no spaces
  async function serve(setup: (app: Koa<State>) => void) {
    const app = new make<State>();
    app.silent = true;
    setup(app);
    const origin = await servers.listen(createServer(app.callback()));
    const port = Number(new URL(origin).port);
    const post = (target: string, key: string, body?: string, headers: Record<string, string> = {}) =>
      raw(port, {
        method: "POST",
        target,
        headers: {
          "idempotency-key": key,
          ...(body !== undefined && { "content-type": "application/json" }),
          ...headers,
        },
        body,
      });
    return { port, post };
  }
  return { idem, events, tag, serve };
}
