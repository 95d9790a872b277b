import type { HttpAnswer } from "./exchange.js";
import { isValidHeaderName, isValidHeaderValue } from "./headers.js";

/** Every answer idemkit makes itself, by type. */
export type ProblemType =
  | "key-missing"
  | "key-invalid"
  | "scope-missing"
  | "target-invalid"
  | "request-too-large"
  | "key-reused"
  | "request-in-progress"
  | "store-unavailable"
  | "response-not-replayable"
  | "response-invalid";

/** An answer idemkit makes itself, before it is rendered (RFC 9457 problem details by default). */
export interface Problem {
  type: ProblemType;
  status: number;
  title: string;
  detail: string;
  /** Headers the answer carries: `retry-after` on 409 and 503, `idempotent-replayed` on 410. */
  headers: Record<string, string>;
  /** Extra members (`originalStatus` on 410). */
  members: Record<string, unknown>;
}

/** What `renderProblem` returns: the body, and optionally another status or more headers. */
export interface RenderedProblem {
  status?: number;
  /** Added to (and overriding) the problem's own headers. Set `content-type` for your body. */
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

export type ProblemRenderer = (problem: Problem) => RenderedProblem;

const TITLES: Record<ProblemType, [status: number, title: string]> = {
  "key-missing": [400, "Idempotency key missing"],
  "key-invalid": [400, "Idempotency key invalid"],
  "scope-missing": [400, "Caller unknown"],
  "target-invalid": [400, "Request target invalid"],
  "request-too-large": [413, "Request body too large"],
  "key-reused": [422, "Idempotency key reused"],
  "request-in-progress": [409, "Request in progress"],
  "store-unavailable": [503, "Idempotency store unavailable"],
  "response-not-replayable": [410, "Response not replayable"],
  "response-invalid": [500, "Response invalid"],
};

export function problem(
  type: ProblemType,
  detail: string,
  extra: { headers?: Record<string, string>; members?: Record<string, unknown> } = {},
): Problem {
  const [status, title] = TITLES[type];
  return { type, status, title, detail, headers: extra.headers ?? {}, members: extra.members ?? {} };
}

const encoder = new TextEncoder();

/** The default rendering: `application/problem+json` with a `urn:idemkit:problem:<type>` type. */
export function renderProblemJson(p: Problem): RenderedProblem {
  const body = JSON.stringify({
    type: `urn:idemkit:problem:${p.type}`,
    title: p.title,
    status: p.status,
    detail: p.detail,
    ...p.members,
  });
  return { headers: { "content-type": "application/problem+json" }, body };
}

/**
 * Renders a problem with the app's renderer. A renderer that throws, or returns something no server
 * could send (a status outside 200–599, a header with a control character, a body that is neither text
 * nor bytes), falls back to the default rendering.
 */
export function problemAnswer(p: Problem, render: ProblemRenderer | undefined): HttpAnswer {
  if (render) {
    try {
      const answer = toAnswer(p, render(p));
      if (answer !== undefined) return answer;
    } catch {
      // fall back below
    }
  }
  return toAnswer(p, renderProblemJson(p))!;
}

function toAnswer(p: Problem, rendered: RenderedProblem): HttpAnswer | undefined {
  if (rendered === null || typeof rendered !== "object") return undefined;
  const status = rendered.status ?? p.status;
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  const { body } = rendered;
  if (typeof body !== "string" && !(body instanceof Uint8Array)) return undefined;
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries({ ...p.headers, ...rendered.headers })) {
    const text = String(value);
    if (!isValidHeaderName(name) || !isValidHeaderValue(text)) return undefined;
    headers.push([name.toLowerCase(), text]);
  }
  return { status, statusText: "", headers, body: typeof body === "string" ? encoder.encode(body) : body };
}
