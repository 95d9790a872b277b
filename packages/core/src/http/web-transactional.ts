import type { Engine } from "../engine.js";
import { StoreUnavailableError } from "../errors.js";
import { OUTCOME_OF_DECISION } from "../events.js";
import { runTransaction, type TransactionalStore } from "../transactional.js";
import type { HttpEntry } from "./entry.js";
import type { HandlerContext } from "./exchange.js";
import type { RequestEnd } from "./finished.js";
import { answerResponse, bytesResponse, captureWebResponse, webExchange, withoutReplayed } from "./web.js";

/** A handler in transactional mode: `context.client` is the transaction the key row is written in. */
export type TransactionalHandler<C> = (
  request: Request,
  context: HandlerContext & { fence: number; client: C },
) => Response | Promise<Response>;

const EMPTY = new Uint8Array(0);

/**
 * Transactional mode over the Web adapter: the key row, the handler's writes through
 * `context.client` and the stored response commit together. A duplicate waits in the database for
 * the first to commit (then replays) or roll back (then runs). A status that is not stored (5xx,
 * 408/425/429) or a throw rolls everything back. Every transactional route needs a key.
 */
export async function handleWebInTransaction<C>(
  engine: Engine,
  entry: HttpEntry<Request>,
  store: TransactionalStore<C>,
  request: Request,
  handler: TransactionalHandler<C>,
): Promise<Response> {
  if (!entry.covers(request.method)) {
    throw new TypeError(`Transactional routes need a covered method; ${request.method} is not one`);
  }
  const started = performance.now();
  const exchange = webExchange(request);
  const prepared = await entry.prepare(exchange, started);
  if (prepared.kind === "answer") return answerResponse(prepared.answer);
  // Without a key there is nothing to write in the transaction.
  if (prepared.kind === "pass") return answerResponse(entry.reject(exchange, started, "key-missing").answer);
  const { key, storedKey, fingerprint, requestBody } = prepared;
  const report = (end: Omit<RequestEnd, "key">) => {
    if (entry.listening) entry.report(exchange, started, { key: storedKey, ...end });
  };
  let fence: number | undefined;
  const fresh =
    requestBody === undefined
      ? request
      : new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: requestBody.length > 0 ? (requestBody as Uint8Array<ArrayBuffer>) : null,
          signal: request.signal,
        });
  let decision: Awaited<ReturnType<typeof runTransaction<C, Response>>>;
  try {
    // A duplicate waits in the database for the first transaction to end, at most `waitForInFlight`'s
    // timeout (or the default), then gets 409.
    const waitMs = entry.policy.wait?.timeoutMs;
    decision = await runTransaction(
      engine,
      store,
      storedKey,
      fingerprint,
      async (tx) => {
        fence = tx.fence;
        const response = await handler(fresh, {
          key,
          fence: tx.fence,
          signal: request.signal,
          client: tx.client,
        });
        const rollback = { value: response, result: EMPTY, commit: false };
        if (!entry.policy.shouldStore(response.status)) return rollback;
        const captured = await captureWebResponse(response, entry);
        const body = captured.rest === undefined ? captured.bytes : EMPTY;
        const outcome = entry.outcome(
          captured.head,
          body,
          captured.rest === undefined ? undefined : captured.reason,
        );
        if (outcome.kind !== "store") {
          await captured.rest?.cancel();
          const why = outcome.kind === "invalid" ? outcome.why : "shouldStore changed its mind";
          return { ...rollback, value: answerResponse(entry.invalidAnswer(why)) };
        }
        const headers = withoutReplayed(response);
        const deliver =
          captured.rest === undefined
            ? bytesResponse(response.status, response.statusText, headers, captured.bytes)
            : new Response(captured.rest, {
                status: response.status,
                statusText: response.statusText,
                headers,
              });
        return { value: deliver, result: outcome.bytes, commit: true };
      },
      waitMs,
    );
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) {
      report({ outcome: "failed", status: undefined, fence, error });
      throw error;
    }
    const answer = entry.answers.unavailable();
    report({ outcome: "unavailable", status: answer.status, error });
    return answerResponse(answer);
  }
  if (decision.kind === "ran") {
    report({ outcome: "executed", status: decision.value.status, fence });
    return decision.value;
  }
  const answer = entry.answers.forDecision(decision);
  report({ outcome: OUTCOME_OF_DECISION[decision.kind], status: answer.status });
  return answerResponse(answer);
}
