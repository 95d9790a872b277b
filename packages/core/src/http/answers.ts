import type { ClaimDecision } from "../engine.js";
import type { HttpAnswer } from "./exchange.js";
import { REPLAYED_HEADER } from "./headers.js";
import type { HttpPolicy } from "./policy.js";
import { type Problem, problem, problemAnswer } from "./problems.js";
import { decodeStoredResponse } from "./stored-response.js";

/** Idemkit's own answers under one policy: problems rendered the app's way, and replays. */
export class Answers {
  readonly #policy: HttpPolicy<unknown>;

  constructor(policy: HttpPolicy<unknown>) {
    this.#policy = policy;
  }

  problem(p: Problem): HttpAnswer {
    return problemAnswer(p, this.#policy.renderProblem);
  }

  keyMissing(): HttpAnswer {
    return this.problem(problem("key-missing", `This request needs an ${this.#policy.headerName} header.`));
  }

  unavailable(
    detail = "The request was not processed because its idempotency key could not be checked. Retry later.",
  ): HttpAnswer {
    return this.problem(
      problem("store-unavailable", detail, {
        headers: { "retry-after": this.#policy.unavailableRetryAfter },
      }),
    );
  }

  conflict(): HttpAnswer {
    return this.problem(
      problem(
        "request-in-progress",
        "A request with this idempotency key is still being processed. Retry later.",
        {
          headers: { "retry-after": this.#policy.conflictRetryAfter },
        },
      ),
    );
  }

  /** The answer to a claim that did not acquire the key. */
  forDecision(decision: Exclude<ClaimDecision, { kind: "acquired" }>): HttpAnswer {
    switch (decision.kind) {
      case "mismatch":
        return this.problem(
          problem(
            "key-reused",
            "This idempotency key was already used with a different request (method, path or body).",
          ),
        );
      case "conflict":
        return this.conflict();
      case "replay":
        return this.replay(decision.record.result);
    }
  }

  /** The stored response, as it was, marked as a replay; 410 for one that was never stored whole. */
  replay(result: Uint8Array): HttpAnswer {
    let stored: ReturnType<typeof decodeStoredResponse>;
    try {
      stored = decodeStoredResponse(result);
    } catch {
      return this.unavailable("The response stored for this idempotency key could not be read. Retry later.");
    }
    if (stored.unreplayable !== undefined) {
      const why: string =
        {
          oversized: `was larger than ${stored.oversized?.bytes ?? this.#policy.maxResponseBytes} bytes`,
          streamed: "was streamed",
          incomplete: "was cut short before the route ended it",
        }[stored.unreplayable as string] ?? "was not stored";
      return this.problem(
        problem(
          "response-not-replayable",
          `The request with this idempotency key was processed (status ${stored.status}), but its response ${why} and was not stored.`,
          { headers: { [REPLAYED_HEADER]: "true" }, members: { originalStatus: stored.status } },
        ),
      );
    }
    const headers = stored.headers;
    headers.push([REPLAYED_HEADER, "true"]);
    return { status: stored.status, statusText: stored.statusText, headers, body: stored.body };
  }
}
