import { describe, expect, it } from "vitest";
import { problem, problemAnswer } from "./problems.js";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const conflict = () => problem("request-in-progress", "still running", { headers: { "retry-after": "1" } });

describe("idemkit's own answers", () => {
  it("default to RFC 9457 problem+json", () => {
    const answer = problemAnswer(conflict(), undefined);
    expect(answer.status).toBe(409);
    expect(answer.headers).toEqual([
      ["retry-after", "1"],
      ["content-type", "application/problem+json"],
    ]);
    expect(JSON.parse(text(answer.body))).toEqual({
      type: "urn:idemkit:problem:request-in-progress",
      title: "Request in progress",
      status: 409,
      detail: "still running",
    });
  });

  it("take the app's envelope from renderProblem, keeping Retry-After", () => {
    const answer = problemAnswer(conflict(), (p) => ({
      status: 400,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ error: { type: "idempotency_error", code: p.type, message: p.detail } }),
    }));
    expect(answer.status).toBe(400);
    expect(new Map(answer.headers)).toEqual(
      new Map([
        ["retry-after", "1"],
        ["content-type", "application/json"],
      ]),
    );
    expect(JSON.parse(text(answer.body))).toEqual({
      error: { type: "idempotency_error", code: "request-in-progress", message: "still running" },
    });
  });

  it.each([
    [
      "throws",
      () => {
        throw new Error("renderer bug");
      },
    ],
    ["returns no object", () => null as never],
    ["a status no server sends", () => ({ status: 99, body: "x" })],
    ["a header with a control character", () => ({ headers: { "x-a": "a\u0001b" }, body: "x" })],
    ["a header name that is not a token", () => ({ headers: { "x a": "b" }, body: "x" })],
    ["a body that is neither text nor bytes", () => ({ body: { not: "bytes" } as never })],
  ])("fall back to problem+json when the renderer %s", (_label, render) => {
    const answer = problemAnswer(conflict(), render);
    expect(answer.status).toBe(409);
    expect(JSON.parse(text(answer.body)).type).toBe("urn:idemkit:problem:request-in-progress");
  });
});
