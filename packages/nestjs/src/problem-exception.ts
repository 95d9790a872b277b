import {
  type HttpAnswer,
  type Problem,
  type ProblemRenderer,
  type RenderedProblem,
  renderProblemJson,
} from "@idemkit/core";
import { HttpException } from "@nestjs/common";

/** The problem each rendered answer body stands for: how an answer is told from a replay. */
const problems = new WeakMap<Uint8Array, Problem>();
const encoder = new TextEncoder();

/**
 * Wraps the app's `renderProblem` (or the default problem+json) so that every answer idemkit makes
 * itself can be recognised by its body, and thrown to Nest's exception filters instead of sent.
 */
export function recognisableProblems(render: ProblemRenderer = renderProblemJson): ProblemRenderer {
  return (problem) => {
    let rendered: RenderedProblem;
    try {
      rendered = render(problem);
      if (rendered === null || typeof rendered !== "object") throw new TypeError("no rendering");
    } catch {
      rendered = renderProblemJson(problem); // what core does for a renderer that throws
    }
    const { body } = rendered;
    // A body of its own: a renderer may hand out the same bytes for every problem.
    const bytes =
      typeof body === "string" ? encoder.encode(body) : body instanceof Uint8Array ? body.slice() : body;
    if (bytes instanceof Uint8Array) problems.set(bytes, problem);
    return { ...rendered, body: bytes };
  };
}

/** The problem an answer renders, or `undefined` for a replay of a stored response. */
export function problemOf(answer: HttpAnswer): Problem | undefined {
  return problems.get(answer.body);
}

/**
 * An answer idemkit makes itself instead of running the route — 400 (key missing or invalid, caller
 * unknown), 409 (in progress), 410 (not replayable), 413 (body too large), 422 (key reused), 503
 * (store unavailable) — thrown to Nest's exception filters. `getResponse()` is the RFC 9457 problem
 * details object, `problem` its parts (`type`, `headers` such as `retry-after`), `answer` the exact
 * response idemkit sends when no filter reshapes it.
 */
export class IdempotencyProblemException extends HttpException {
  readonly problem: Problem;
  readonly answer: HttpAnswer;

  constructor(problem: Problem, answer: HttpAnswer) {
    super(JSON.parse(renderProblemJson(problem).body as string) as Record<string, unknown>, answer.status);
    this.problem = problem;
    this.answer = answer;
    this.message = problem.detail;
  }
}
