import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createClient } from "../../src/index.js";
import { Backoff, retryAfter } from "../../src/policy/backoff.js";
import { EDGE, gatewayError, NODE, run, scripted } from "../helpers.js";

const withRetryAfter = (value: string) =>
  new Response(null, { status: 503, headers: { "retry-after": value } });

describe("retryAfter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse("2026-11-25T10:00:00.000Z") });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reads delta-seconds and HTTP-dates as milliseconds from now", () => {
    expect(retryAfter(withRetryAfter("0"))).toBe(0);
    expect(retryAfter(withRetryAfter("120"))).toBe(120_000);
    expect(retryAfter(withRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT"))).toBe(30_000);
  });

  it("gives none for a missing, invalid, negative or past value", () => {
    expect(retryAfter(new Response(null, { status: 503 }))).toBeUndefined();
    expect(retryAfter(withRetryAfter("soon"))).toBeUndefined();
    expect(retryAfter(withRetryAfter("-5"))).toBeUndefined();
    expect(retryAfter(withRetryAfter("Wed, 25 Nov 2026 09:59:00 GMT"))).toBeUndefined();
  });
});

describe("backoff before going back to a tried server", () => {
  const restPath = { params: { path: { path: "v2.0/x" } } } as const;
  let close = () => {};
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    close();
    vi.useRealTimers();
  });

  /** When each request of one call was sent, in ms after the first, with Math.random() at `random`. */
  async function gaps(random: number) {
    vi.spyOn(Math, "random").mockReturnValue(random);
    const times: number[] = [];
    const script = scripted(({ path }) => {
      if (path !== "/health") {
        times.push(Date.now());
      }
      return gatewayError(503, "DATABASE_UNAVAILABLE");
    });
    const client = createClient({
      servers: [EDGE, NODE],
      fetch: script.fetch,
      maxAttempts: 5,
      retryBudget: { maxTokens: 1000 },
      downAfter: 100,
    });
    close = client.close;
    await run(client.GET("/api/rest/{path}", restPath), 10_000);
    return times.map((t) => t - (times[0] ?? 0));
  }

  it("waits a random share of a bound that doubles per attempt from BaseMs", async () => {
    // Edge, node, then back: before the 3rd request the bound is BaseMs * 2^2, before the 4th 2^3...
    const bound = (attempts: number) => Math.min(Backoff.CapMs, Backoff.BaseMs * 2 ** attempts);
    expect(await gaps(0.5)).toEqual([0, 0, bound(2) / 2, bound(2) / 2 + bound(3) / 2, 300 + bound(4) / 2]);
  });

  it("waits at most the bound, and the bound never passes CapMs", async () => {
    const sent = await gaps(0.999_999);
    const waits = sent.slice(1).map((t, i) => t - (sent[i] ?? 0));
    // Full jitter: up to the whole bound (50 * 2^2, 2^3, 2^4); within 5 attempts it stays under the cap.
    expect(waits.map((w) => Math.round(w / 100) * 100)).toEqual([0, 200, 400, 800]);
    expect(Math.max(...waits)).toBeLessThanOrEqual(Backoff.CapMs);
  });
});
