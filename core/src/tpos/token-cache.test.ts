import type { Schema } from "@n2store/generated";
import { describe, expect, it, vi } from "vitest";
import type { Clock } from "../ports/runtime.js";
import { REFRESH_BUFFER_MS, TokenCache } from "./token-cache.js";

type TokenResponse = Schema<"TokenResponse">;

/** A clock the test moves by hand. */
function manualClock(start = Date.UTC(2026, 10, 25, 8, 0, 0)): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function token(accessToken: string, expiresIn = 3600): TokenResponse {
  return { access_token: accessToken, token_type: "bearer", expires_in: expiresIn };
}

/** A promise resolved from outside. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("TokenCache", () => {
  it("misses on an empty cache and calls the fetcher", async () => {
    const cache = new TokenCache(manualClock());
    const fetch = vi.fn(async () => token("t1"));
    expect(cache.get("k")).toBeUndefined();
    await expect(cache.getOrFetch("k", fetch)).resolves.toEqual({ token: token("t1"), cached: false });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(cache.size).toBe(1);
  });

  it("answers a second call from the cache without fetching", async () => {
    const cache = new TokenCache(manualClock());
    const fetch = vi.fn(async () => token("t1"));
    await cache.getOrFetch("k", fetch);
    const second = await cache.getOrFetch("k", fetch);
    expect(second).toEqual({ token: token("t1"), cached: true });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("counts expires_in down on hits and keeps the other fields", async () => {
    const clock = manualClock();
    const cache = new TokenCache(clock);
    await cache.getOrFetch("k", async () => ({ ...token("t1", 1295999), refresh_token: "r1" }));
    clock.advance(100_000);
    expect(cache.get("k")).toEqual({ ...token("t1", 1295899), refresh_token: "r1" });
    clock.advance(1); // 1295898.999 s left: whole seconds, rounded down
    expect(cache.get("k")?.expires_in).toBe(1295898);
  });

  it("serves the token until five minutes before it expires, then refetches", async () => {
    const clock = manualClock();
    const cache = new TokenCache(clock);
    const fetch = vi.fn().mockResolvedValueOnce(token("old", 3600)).mockResolvedValueOnce(token("new", 3600));
    await cache.getOrFetch("k", fetch);

    clock.advance(3600_000 - REFRESH_BUFFER_MS - 1);
    expect(await cache.getOrFetch("k", fetch)).toEqual({ token: token("old", 300), cached: true });

    clock.advance(1);
    expect(await cache.getOrFetch("k", fetch)).toEqual({ token: token("new", 3600), cached: false });
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it("drops an entry that is inside the refresh buffer when it is read", async () => {
    const clock = manualClock();
    const cache = new TokenCache(clock);
    await cache.getOrFetch("k", async () => token("t1", 600));
    clock.advance(300_000);
    expect(cache.get("k")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("calls the fetcher once for 1000 concurrent misses on one key", async () => {
    const cache = new TokenCache(manualClock());
    const pending = deferred<TokenResponse>();
    const fetch = vi.fn(() => pending.promise);
    const calls = Array.from({ length: 1000 }, () => cache.getOrFetch("k", fetch));
    pending.resolve(token("shared"));
    const results = await Promise.all(calls);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(new Set(results.map((result) => result.token.access_token))).toEqual(new Set(["shared"]));
    expect(results.every((result) => !result.cached)).toBe(true);
  });

  it("fetches separately for different keys, even concurrently", async () => {
    const cache = new TokenCache(manualClock());
    const fetchA = vi.fn(async () => token("a"));
    const fetchB = vi.fn(async () => token("b"));
    const [a, b] = await Promise.all([cache.getOrFetch("A", fetchA), cache.getOrFetch("B", fetchB)]);
    expect([a.token.access_token, b.token.access_token]).toEqual(["a", "b"]);
    expect(fetchA).toHaveBeenCalledTimes(1);
    expect(fetchB).toHaveBeenCalledTimes(1);
    expect(cache.get("A")?.access_token).toBe("a");
    expect(cache.get("B")?.access_token).toBe("b");
  });

  it("does not cache a failed fetch, rejects every waiter, and fetches again on the next call", async () => {
    const cache = new TokenCache(manualClock());
    const pending = deferred<TokenResponse>();
    const failing = vi.fn(() => pending.promise);
    const waiters = [cache.getOrFetch("k", failing), cache.getOrFetch("k", failing)];
    pending.reject(new Error("TPOS said no"));
    for (const waiter of waiters) {
      await expect(waiter).rejects.toThrow("TPOS said no");
    }
    expect(failing).toHaveBeenCalledTimes(1);
    expect(cache.size).toBe(0);

    const working = vi.fn(async () => token("t2"));
    await expect(cache.getOrFetch("k", working)).resolves.toEqual({ token: token("t2"), cached: false });
    expect(working).toHaveBeenCalledTimes(1);
  });

  it("returns but does not cache a token that lives no longer than the refresh buffer", async () => {
    const cache = new TokenCache(manualClock());
    const fetch = vi.fn(async () => token("short", REFRESH_BUFFER_MS / 1000));
    await expect(cache.getOrFetch("k", fetch)).resolves.toEqual({
      token: token("short", 300),
      cached: false,
    });
    await cache.getOrFetch("k", fetch);
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(cache.size).toBe(0);
  });

  it("caches a token that lives one second longer than the refresh buffer", async () => {
    const cache = new TokenCache(manualClock());
    await cache.getOrFetch("k", async () => token("t", REFRESH_BUFFER_MS / 1000 + 1));
    expect(cache.size).toBe(1);
  });

  it("evicts the least recently used token when maxEntries is reached", async () => {
    const cache = new TokenCache(manualClock(), 2);
    await cache.getOrFetch("a", async () => token("a"));
    await cache.getOrFetch("b", async () => token("b"));
    expect(cache.get("a")?.access_token).toBe("a"); // "a" is now the most recently used
    await cache.getOrFetch("c", async () => token("c"));
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")?.access_token).toBe("a");
    expect(cache.get("c")?.access_token).toBe("c");
  });

  it("keeps at most 1000 tokens by default", async () => {
    const cache = new TokenCache(manualClock());
    for (let i = 0; i < 1001; i++) {
      await cache.getOrFetch(`k${i}`, async () => token(`t${i}`));
    }
    expect(cache.size).toBe(1000);
    expect(cache.get("k0")).toBeUndefined();
    expect(cache.get("k1000")?.access_token).toBe("t1000");
  });
});
