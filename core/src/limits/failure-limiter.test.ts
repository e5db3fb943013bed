import { describe, expect, it } from "vitest";
import { ApiError } from "../errors.js";
import { limitFailures, MemoryFailureLimiter } from "./failure-limiter.js";

describe("MemoryFailureLimiter", () => {
  it("lets a key fail `limit` times in the period, then makes it wait for the oldest to expire", async () => {
    let now = 1_000_000;
    const limiter = new MemoryFailureLimiter({ now: () => now }, 3, 10_000);
    expect(await limiter.fail("a")).toBe(0);
    now += 4000;
    expect(await limiter.fail("a")).toBe(0);
    expect(await limiter.fail("a")).toBe(6);
    expect(await limiter.retryAfter("a")).toBe(6);
    expect(await limiter.retryAfter("b")).toBe(0);
    now += 6001;
    expect(await limiter.retryAfter("a")).toBe(0);
  });

  it("keeps at most maxKeys keys, dropping the oldest", async () => {
    const limiter = new MemoryFailureLimiter({ now: () => 0 }, 1, 60_000, 3);
    for (const key of ["a", "b", "c", "d"]) {
      await limiter.fail(key);
    }
    expect(await limiter.retryAfter("a")).toBe(0);
    expect(await limiter.retryAfter("d")).toBe(60);
  });

  it("blocks a key for a given time when another limiter says so", async () => {
    let now = 0;
    const limiter = new MemoryFailureLimiter({ now: () => now });
    limiter.block("a", 60);
    expect(await limiter.retryAfter("a")).toBe(60);
    now += 60_001;
    expect(await limiter.retryAfter("a")).toBe(0);
  });
});

describe("limitFailures", () => {
  it("counts only UNAUTHORIZED and TPOS_TOKEN_REJECTED, against every key", async () => {
    const limiter = new MemoryFailureLimiter({ now: () => 0 }, 1);
    await expect(
      limitFailures(limiter, ["a", "b"], async () => {
        throw new ApiError("UPSTREAM_TIMEOUT", "slow");
      }),
    ).rejects.toMatchObject({ code: "UPSTREAM_TIMEOUT" });
    expect(await limiter.retryAfter("a")).toBe(0);
    await expect(
      limitFailures(limiter, ["a", "b"], async () => {
        throw new ApiError("TPOS_TOKEN_REJECTED", "no");
      }),
    ).rejects.toMatchObject({ code: "TPOS_TOKEN_REJECTED" });
    expect(await limiter.retryAfter("a")).toBeGreaterThan(0);
    expect(await limiter.retryAfter("b")).toBeGreaterThan(0);
    await expect(limitFailures(limiter, ["b"], async () => "ok")).rejects.toMatchObject({
      code: "TOO_MANY_FAILURES",
    });
  });
});
