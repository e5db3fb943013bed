import { ApiError, isApiError } from "../errors.js";
import type { Clock } from "../ports/runtime.js";

/**
 * Counts failed credential checks (wrong API keys, wrong SePay keys, refused TPOS passwords, failed
 * `/ws` authentication) per key, usually the client's address. Successes are never counted.
 */
export interface FailureLimiter {
  /** Seconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string): Promise<number>;
  /** Records one failure of `key`; resolves with the seconds it must now wait (0 while under the limit). */
  fail(key: string): Promise<number>;
}

/** The defaults: about 20 failures a minute, then a wait until the oldest of them is a minute old. */
export const FAILURE_LIMIT = 20;
export const FAILURE_PERIOD_MS = 60_000;

/**
 * A rolling window in memory: a key may fail `limit` times in `periodMs`; after that it waits until
 * the oldest of those failures leaves the window. Bounded in keys (oldest dropped first), so a flood
 * of addresses cannot grow it without limit. One per Node process or Worker isolate.
 */
export class MemoryFailureLimiter implements FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly limit = FAILURE_LIMIT,
    private readonly periodMs = FAILURE_PERIOD_MS,
    private readonly maxKeys = 10_000,
  ) {}

  private recent(key: string, now: number): number[] {
    const times = (this.failures.get(key) ?? []).filter((at) => at > now - this.periodMs);
    if (times.length === 0) {
      this.failures.delete(key);
    } else {
      this.failures.set(key, times);
    }
    return times;
  }

  private wait(times: readonly number[], now: number): number {
    if (times.length < this.limit) {
      return 0;
    }
    const oldest = times[times.length - this.limit] ?? now;
    return Math.max(1, Math.ceil((oldest + this.periodMs - now) / 1000));
  }

  async retryAfter(key: string): Promise<number> {
    const now = this.clock.now();
    return this.wait(this.recent(key, now), now);
  }

  async fail(key: string): Promise<number> {
    const now = this.clock.now();
    const times = this.recent(key, now);
    times.push(now);
    // Only the newest `limit` failures matter for the wait.
    this.failures.delete(key);
    this.failures.set(key, times.slice(-this.limit));
    if (this.failures.size > this.maxKeys) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) {
        this.failures.delete(oldest);
      }
    }
    return this.wait(times, now);
  }

  /** Makes `key` wait `seconds` (another limiter, such as Cloudflare's, said it is over). */
  block(key: string, seconds: number): void {
    const now = this.clock.now();
    const until = now + seconds * 1000 - this.periodMs;
    this.failures.set(
      key,
      Array.from({ length: this.limit }, () => until),
    );
  }
}

/** 429 for a client that failed too many credential checks, with when to come back. */
export function tooManyFailures(seconds: number): ApiError {
  return new ApiError(
    "TOO_MANY_FAILURES",
    `Too many failed attempts from this client; try again in ${seconds} s.`,
    { headers: { "retry-after": String(seconds) }, nothingSent: true },
  );
}

/** The errors that count as a failed credential check. */
const FAILURES = new Set(["UNAUTHORIZED", "TPOS_TOKEN_REJECTED"]);

/**
 * Runs a credential check under the limiter: a key that failed too often is refused with 429 before
 * anything is checked (so a guess cannot succeed while it waits), and a failure of `check` counts
 * against every key. Success counts nothing.
 */
export async function limitFailures<T>(
  limiter: FailureLimiter,
  keys: readonly string[],
  check: () => Promise<T>,
): Promise<T> {
  let wait = 0;
  for (const key of keys) {
    wait = Math.max(wait, await limiter.retryAfter(key));
  }
  if (wait > 0) {
    throw tooManyFailures(wait);
  }
  try {
    return await check();
  } catch (error) {
    if (isApiError(error) && FAILURES.has(error.code)) {
      await Promise.all(keys.map((key) => limiter.fail(key)));
    }
    throw error;
  }
}
