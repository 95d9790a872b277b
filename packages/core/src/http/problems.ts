import type { HttpAnswer } from "./exchange.js";

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

/** Renders a problem with the app's renderer; a renderer that throws falls back to the default. */
export function problemAnswer(p: Problem, render: ProblemRenderer | undefined): HttpAnswer {
  let rendered: RenderedProblem;
  try {
    rendered = render ? render(p) : renderProblemJson(p);
    if (rendered === null || typeof rendered !== "object") throw new TypeError("not an object");
  } catch {
    rendered = renderProblemJson(p);
  }
  const headers: Record<string, string> = { ...p.headers, ...rendered.headers };
  const body = typeof rendered.body === "string" ? encoder.encode(rendered.body) : rendered.body;
  const status = Number.isInteger(rendered.status) && rendered.status! >= 200 && rendered.status! <= 599;
  return {
    status: status ? rendered.status! : p.status,
    statusText: "",
    headers: Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)]),
    body: body instanceof Uint8Array ? body : new Uint8Array(0),
  };
}
