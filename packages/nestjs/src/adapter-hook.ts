import { nodeResponse, takeOver } from "./platform.js";

/**
 * How idemkit's answers leave through Nest's HTTP adapter (Express's or Fastify's), which every reply
 * and every exception filter's answer goes through (`reply`):
 * - a replay was written by idemkit itself, as stored: what Nest would send after it is dropped;
 * - a problem (409, 422, …) is thrown to the exception filters; one that reaches the adapter as it
 *   was thrown (no filter, or a filter that hands `exception.getResponse()` on with its status) is
 *   sent exactly as idemkit renders it (`application/problem+json`, `Retry-After`). A filter that
 *   answers anything else is sent as it answered.
 */
interface HttpAdapterMethods {
  reply(response: unknown, body: unknown, statusCode?: number): unknown;
  end(response: unknown, message?: string): unknown;
  redirect(response: unknown, statusCode: number, url: string): unknown;
  render(response: unknown, view: string, options: unknown): unknown;
}

/** Node responses idemkit already answered (a replay). */
const answered = new WeakSet<object>();
/** Problem bodies thrown to the filters, with their status and how to send them as idemkit renders them. */
const thrownProblems = new WeakMap<object, { status: number; send: () => void }>();
const hooked = new WeakSet<object>();

export function markAnswered(res: object): void {
  answered.add(res);
}

export function expectProblemReply(body: object, status: number, send: () => void): void {
  thrownProblems.set(body, { status, send });
}

function isAnswered(response: unknown): boolean {
  const res = nodeResponse(response);
  return typeof res === "object" && res !== null && answered.has(res);
}

/** Hooks `adapter` once (the app's one adapter; `HttpAdapterHost` has it once the app exists). */
export function hookAdapter(adapter: HttpAdapterMethods | undefined): void {
  if (!adapter || hooked.has(adapter)) return;
  hooked.add(adapter);
  const { reply, end, redirect, render } = adapter;
  adapter.reply = function (response, body, statusCode) {
    if (isAnswered(response)) return;
    const thrown = body !== null && typeof body === "object" ? thrownProblems.get(body) : undefined;
    if (thrown && (statusCode === undefined || statusCode === thrown.status)) {
      thrownProblems.delete(body as object);
      takeOver(response);
      return thrown.send();
    }
    return reply.call(this, response, body, statusCode);
  };
  adapter.end = function (response, message) {
    if (isAnswered(response)) return;
    return end.call(this, response, message);
  };
  adapter.redirect = function (response, statusCode, url) {
    if (isAnswered(response)) return;
    return redirect.call(this, response, statusCode, url);
  };
  adapter.render = function (response, view, options) {
    if (isAnswered(response)) return;
    return render.call(this, response, view, options);
  };
}
