import { describe, expect, it } from "vitest";
import { routedTarget } from "./target.js";

describe("the routed target", () => {
  it.each([
    ["/orders?x=1", "/orders?x=1"],
    ["//x/refunds", "//x/refunds"],
    ["/", "/"],
    ["http://api.example/orders?x=1", "/orders?x=1"],
    ["https://api.example", "/"],
    ["http://api.example?x=1", "/?x=1"],
    ["http://api.example/a#frag", "/a"],
  ])("%s is routed as %s", (target, routed) => {
    expect(routedTarget(target)).toBe(routed);
  });

  it.each(["*", "api.example:443", "orders", ""])("%s is no routable target", (target) => {
    expect(routedTarget(target)).toBeUndefined();
  });
});
