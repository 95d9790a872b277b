import type { CallOutcome } from "../events.js";
import type { Lease } from "../lease.js";
import { workContext } from "../work-context.js";
import type { HttpEntry } from "./entry.js";
import type {
  HandlerContext,
  HttpAnswer,
  HttpExchange,
  RouteResponse,
  RouteResponseHead,
  UnreplayableReason,
} from "./exchange.js";
import type { Prepared } from "./prepare.js";

const EMPTY = new Uint8Array(0);

/**
 * A request whose key this process claimed: the route runs, then its response is stored (or the
 * key released) through one of the `finish` calls, each of which says what to send. Exactly one of
 * `finish`, `finishUnreplayable`, `fail` or `abandon` ends it.
 */
export class OwnedRun {
  readonly kind = "run";
  readonly context: HandlerContext;
  /** The body bytes read to fingerprint the request, if they were read from a stream. */
  readonly requestBody: Uint8Array | undefined;
  readonly #lease: Lease;
  readonly #entry: HttpEntry<never>;
  readonly #fingerprint: string;
  /** The request and when it reached idemkit, for its `finished` event. */
  readonly #exchange: HttpExchange<never>;
  readonly #started: number;
  #reported = false;

  constructor(
    lease: Lease,
    prepared: Prepared,
    entry: HttpEntry<never>,
    exchange: HttpExchange<never>,
    started: number,
  ) {
    this.#lease = lease;
    this.#entry = entry;
    this.#fingerprint = prepared.fingerprint;
    this.#exchange = exchange;
    this.#started = started;
    this.requestBody = prepared.requestBody;
    this.context = workContext({ key: prepared.key, fence: lease.fence }, lease);
  }

  /** The lease length, the grace a route cut off from its client gets to end its response. */
  get leaseMs(): number {
    return this.#entry.leaseMs;
  }

  /** Largest body held for storage; past it, `finishUnreplayable(…, "oversized")`. */
  get maxResponseBytes(): number {
    return this.#entry.maxResponseBytes;
  }

  /** Whether a response with this head streams straight through (server-sent events). */
  streams(head: RouteResponseHead): boolean {
    return this.#entry.streams(head);
  }

  /**
   * The route answered in full. Stores the response (before the client sees it, so an immediate
   * retry replays instead of getting 409), or releases the key for a status that is not stored.
   * Resolves to `undefined` (send the route's response) or to the answer to send instead.
   */
  finish(response: RouteResponse): Promise<HttpAnswer | undefined> {
    return this.#end(response, response.body, undefined);
  }

  /** The route's response is not held whole: the key is completed with a marker (410 on retry). */
  finishUnreplayable(head: RouteResponseHead, reason: UnreplayableReason): Promise<HttpAnswer | undefined> {
    return this.#end(head, EMPTY, reason);
  }

  /** The route failed (with `error`, when known) before answering: the key is released, so a retry runs again. */
  async fail(error?: unknown): Promise<void> {
    await this.#lease.release("error");
    this.#report("failed", undefined, error);
  }

  /** Neither storable nor safe to release (the work may have run): the key frees when its lease ends. */
  abandon(): void {
    this.#lease.abandon();
    this.#report("executed", undefined);
  }

  /** One `finished` event per run, whichever way it ends (an integration may end it twice on a throw). */
  #report(outcome: CallOutcome, status: number | undefined, error?: unknown): void {
    if (this.#reported) return;
    this.#reported = true;
    if (!this.#entry.listening) return;
    const key = this.#lease.key;
    const end = { key, outcome, status, fence: this.#lease.fence, error };
    this.#entry.report(this.#exchange, this.#started, end);
  }

  async #end(head: RouteResponseHead, body: Uint8Array, reason: UnreplayableReason | undefined) {
    let outcome: ReturnType<HttpEntry<never>["outcome"]>;
    try {
      outcome = this.#entry.outcome(head, body, reason);
    } catch (error) {
      // An option threw after the work ran: neither store nor release; the key frees with the lease.
      this.#lease.abandon();
      throw error;
    }
    let instead: HttpAnswer | undefined;
    switch (outcome.kind) {
      case "not-stored":
        await this.#lease.release("not-stored");
        break;
      case "invalid":
        await this.#lease.release("error");
        instead = this.#entry.invalidAnswer(outcome.why);
        break;
      case "store": {
        const completion = await this.#lease.complete(outcome.bytes);
        // Another owner took the key over: answer as a retry would be answered, not with a 2xx
        // that the key's record and every retry contradict.
        if (completion === "lease-lost") {
          instead = await this.#entry.superseded(this.#lease.key, this.#fingerprint);
        }
        break;
      }
    }
    this.#report("executed", instead?.status ?? head.status);
    return instead;
  }
}
