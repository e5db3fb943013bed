import { describe, expect, it } from "vitest";
import { allows, refill } from "../../src/policy/budget.js";
import { NODE, serverState } from "../helpers.js";

describe("retry budget", () => {
  it("allows retries only while more than half the bucket is left", () => {
    const s = serverState(NODE, { retryTokens: 10 });
    const allowed: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      allowed.push(allows(s, 10));
      refill(s, -1, 10);
    }
    // 10, 9, 8, 7, 6 tokens allow a retry; 5 (exactly half) does not.
    expect(allowed).toEqual([true, true, true, true, true, false]);
    expect(s.retryTokens).toBe(4);
  });

  it("never goes below zero or above the capacity", () => {
    const s = serverState(NODE, { retryTokens: 0.5 });
    refill(s, -1, 10);
    expect(s.retryTokens).toBe(0);
    s.retryTokens = 9.95;
    refill(s, 0.1, 10);
    expect(s.retryTokens).toBe(10);
  });

  it("buys one retry back with ten successes at the default ratio", () => {
    const s = serverState(NODE, { retryTokens: 5 });
    expect(allows(s, 10)).toBe(false);
    for (let i = 0; i < 10; i++) {
      refill(s, 0.1, 10);
    }
    expect(s.retryTokens).toBeCloseTo(6, 10);
    expect(allows(s, 10)).toBe(true);
  });
});
