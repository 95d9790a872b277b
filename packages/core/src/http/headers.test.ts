import { describe, expect, it } from "vitest";
import { DEFAULT_EXCLUDED_HEADERS, replayableHeaders } from "./headers.js";

const excluded = new Set(DEFAULT_EXCLUDED_HEADERS);

describe("replayableHeaders", () => {
  it("keeps single values (strings and numbers) and every value of a list, in order", () => {
    expect(
      replayableHeaders(
        { "content-type": "application/json", "x-count": 3, vary: ["accept", "origin"] },
        excluded,
      ),
    ).toEqual([
      ["content-type", "application/json"],
      ["x-count", "3"],
      ["vary", "accept"],
      ["vary", "origin"],
    ]);
  });

  it("drops excluded headers, headers the Connection header names, and inherited ones of the same value", () => {
    const list = ["a", "b"];
    const headers = {
      "set-cookie": ["s=1"],
      connection: "x-hop, X-Other",
      "x-hop": "1",
      "x-other": ["2"],
      "x-cors": "*",
      "x-changed": "new",
      "x-list": list,
      "x-kept": "k",
    };
    const inherited = { "x-cors": "*", "x-changed": "old", "x-list": list };
    expect(replayableHeaders(headers, excluded, inherited)).toEqual([
      ["x-changed", "new"],
      ["x-kept", "k"],
    ]);
  });

  it("refuses a control character in a single value and in any value of a list, excluded or not", () => {
    const refusal = "header x-a has a control character in its value";
    expect(replayableHeaders({ "x-a": "a\u0001b" }, excluded)).toBe(refusal);
    expect(replayableHeaders({ "x-a": ["ok", "a\nb"] }, excluded)).toBe(refusal);
    expect(replayableHeaders({ "set-cookie": ["a\rb"] }, excluded)).toBe(
      "header set-cookie has a control character in its value",
    );
    expect(replayableHeaders({ "x a": "1" }, excluded)).toBe('header name "x a" is not a token');
  });
});
