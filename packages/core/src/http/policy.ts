import {
  booleanOption,
  describe,
  functionOption,
  integerOption,
  MAX_TIMER_MS,
  oneOfOption,
  tokenListOption,
  tokenOption,
} from "../options-check.js";
import { DEFAULT_EXCLUDED_HEADERS } from "./headers.js";
import type { ProblemRenderer } from "./problems.js";

/** What `streaming` looks at: the response's status and headers, before its body. */
export interface ResponseHead {
  status: number;
  /** A header's value by name (case-insensitive), or `undefined`. */
  header(name: string): string | undefined;
}

/**
 * Which client a key belongs to. A function returns the caller's stable identity (tenant, account,
 * API key id — not a token that rotates): keys of different scopes never meet. A request it returns
 * `undefined` for is answered 400 (`scope-missing`) and never run: mount idemkit after authentication.
 * `"global"` shares one key space across all clients: only for keys that are unique across clients
 * (UUIDs from trusted services).
 */
export type Scope<R> = "global" | ((request: R) => string | undefined | Promise<string | undefined>);

/** The HTTP options; `R` is the request object the integration hands to `scope` and `fingerprint`. */
export interface HttpOptions<R = Request> {
  /** Request header carrying the key. Default `Idempotency-Key`. */
  header?: string;
  /** Methods covered; others pass through untouched. Default POST and PATCH. */
  methods?: string[];
  /** Reject covered requests without a key (400). Default `true`; `false` lets them pass through. */
  required?: boolean;
  /** Required: whose key space a request belongs to (see `Scope`). */
  scope?: Scope<R>;
  /** Custom fingerprint; default: method, path with query, and the body (JSON canonically). */
  fingerprint?: (request: R, body: Uint8Array) => string | Promise<string>;
  /** Wait for an in-flight original and replay it, instead of answering 409. Default off. */
  waitForInFlight?: boolean | { timeoutMs?: number; pollMs?: number };
  /** Which final statuses are stored. Default: below 500, except 408, 425 and 429. */
  shouldStore?: (status: number) => boolean;
  /** Response headers never stored, in addition to the built-in deny-list. */
  excludeHeaders?: string[];
  /** Largest body stored for replay. Larger responses are delivered, and marked not replayable. */
  maxResponseBytes?: number;
  /**
   * Responses streamed straight through instead of held for storage (server-sent events, say). The
   * key is completed with a "not replayable" marker before the first byte is sent, so a retry gets
   * 410 and never runs the work again. Default: `content-type: text/event-stream`.
   */
  streaming?: (response: ResponseHead) => boolean;
  /** Largest request body read for fingerprinting; larger requests get 413 and do not run. Default 1 MiB. */
  maxRequestBytes?: number;
  /** `Retry-After` seconds on 409. Default 1. */
  conflictRetryAfterSeconds?: number;
  /** `Retry-After` seconds on 503. Default 2. */
  unavailableRetryAfterSeconds?: number;
  /** When the store fails: `closed` answers 503 (default); `open` runs the handler unprotected. */
  onStoreUnavailable?: "closed" | "open";
  /** Shapes every answer idemkit makes itself (400, 409, 410, 413, 422, 500, 503). Default problem+json. */
  renderProblem?: ProblemRenderer;
}

export const HTTP_OPTION_NAMES: readonly string[] = [
  "header",
  "methods",
  "required",
  "scope",
  "fingerprint",
  "waitForInFlight",
  "shouldStore",
  "excludeHeaders",
  "maxResponseBytes",
  "streaming",
  "maxRequestBytes",
  "conflictRetryAfterSeconds",
  "unavailableRetryAfterSeconds",
  "onStoreUnavailable",
  "renderProblem",
];

/** The HTTP options, checked and with their defaults: what the request path reads. */
export interface HttpPolicy<R> {
  headerName: string;
  methods: ReadonlySet<string>;
  required: boolean;
  scope: Scope<R> | undefined;
  fingerprint: HttpOptions<R>["fingerprint"];
  wait: { timeoutMs: number; pollMs: number } | undefined;
  shouldStore: (status: number) => boolean;
  excluded: ReadonlySet<string>;
  maxResponseBytes: number;
  streaming: (response: ResponseHead) => boolean;
  maxRequestBytes: number;
  conflictRetryAfter: string;
  unavailableRetryAfter: string;
  failOpen: boolean;
  renderProblem: ProblemRenderer | undefined;
}

const UNSTORED_STATUSES = new Set([408, 425, 429]);
const defaultShouldStore = (status: number) => status < 500 && !UNSTORED_STATUSES.has(status);
const defaultStreaming = (response: ResponseHead) =>
  /^\s*text\/event-stream\b/i.test(response.header("content-type") ?? "");

const MiB = 1024 * 1024;
const MAX_BODY_BYTES = 1024 * MiB;

export function resolveHttpPolicy<R>(options: HttpOptions<R>): HttpPolicy<R> {
  return {
    headerName: tokenOption("header", options.header, "Idempotency-Key").toLowerCase(),
    methods: new Set(
      tokenListOption("methods", options.methods, ["POST", "PATCH"]).map((m) => m.toUpperCase()),
    ),
    required: booleanOption("required", options.required, true),
    scope: scopeOption(options.scope),
    fingerprint: functionOption("fingerprint", options.fingerprint),
    wait: waitOption(options.waitForInFlight),
    shouldStore: functionOption("shouldStore", options.shouldStore) ?? defaultShouldStore,
    excluded: new Set([
      ...DEFAULT_EXCLUDED_HEADERS,
      ...tokenListOption("excludeHeaders", options.excludeHeaders, []).map((h) => h.toLowerCase()),
    ]),
    maxResponseBytes: integerOption("maxResponseBytes", options.maxResponseBytes, MiB, 0, MAX_BODY_BYTES),
    streaming: functionOption("streaming", options.streaming) ?? defaultStreaming,
    maxRequestBytes: integerOption("maxRequestBytes", options.maxRequestBytes, MiB, 0, MAX_BODY_BYTES),
    conflictRetryAfter: String(
      integerOption("conflictRetryAfterSeconds", options.conflictRetryAfterSeconds, 1, 0, 86_400),
    ),
    unavailableRetryAfter: String(
      integerOption("unavailableRetryAfterSeconds", options.unavailableRetryAfterSeconds, 2, 0, 86_400),
    ),
    failOpen:
      oneOfOption("onStoreUnavailable", options.onStoreUnavailable, ["closed", "open"], "closed") === "open",
    renderProblem: functionOption("renderProblem", options.renderProblem),
  };
}

function scopeOption<R>(value: unknown): Scope<R> | undefined {
  if (value === undefined || value === "global" || typeof value === "function") return value as Scope<R>;
  throw new TypeError(`scope must be a function of the request or "global"; got ${describe(value)}`);
}

/** The scope an HTTP entry point must have been given; thrown when it is created without one. */
export function requireScope<R>(policy: HttpPolicy<R>, where: string): Scope<R> {
  if (policy.scope !== undefined) return policy.scope;
  throw new TypeError(
    `${where}: choose a scope. Pass \`scope: (request) => accountId\` (the caller's tenant, account or ` +
      'API key id) so two clients never share answers, or `scope: "global"` if keys are unique across all clients.',
  );
}

export function waitOption(value: unknown): HttpPolicy<unknown>["wait"] {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { timeoutMs: 10_000, pollMs: 50 };
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `waitForInFlight must be true, false or { timeoutMs, pollMs }; got ${describe(value)}`,
    );
  }
  const { timeoutMs, pollMs } = value as { timeoutMs?: unknown; pollMs?: unknown };
  const timeout = integerOption("waitForInFlight.timeoutMs", timeoutMs, 10_000, 1, MAX_TIMER_MS);
  return { timeoutMs: timeout, pollMs: integerOption("waitForInFlight.pollMs", pollMs, 50, 1, timeout) };
}
