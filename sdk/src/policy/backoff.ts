import { now } from "../util.js";

/**
 * How long to wait before going back to a server that a call already tried: full jitter (a random
 * wait between zero and the bound; AWS's "Exponential Backoff And Jitter") on a bound of `BaseMs`
 * doubling per attempt, capped at `CapMs` (anchors §2). Full jitter, so that the pages that failed
 * together do not come back together. The failover's server choice computes it as
 * `Math.random() * Math.min(CapMs, BaseMs * 2 ** attempts)`: inline, because the main entry's size
 * budget has no room for a function call there, and an enum, because esbuild inlines its members.
 */
export enum Backoff {
  BaseMs = 50,
  CapMs = 1000,
}

/**
 * The backoff a server asks for: the milliseconds of its Retry-After header (delta-seconds or an
 * HTTP-date, RFC 9110 §10.2.3); none when the header is missing, invalid or in the past. The
 * engine obeys it per server (the breaker's cooling) before any backoff of its own.
 */
export const retryAfter = (r: Response): number | undefined => {
  const v = r.headers.get("retry-after");
  const ms = v ? (/^\d+$/.test(v) ? +v * 1000 : Date.parse(v) - now()) : -1;
  return ms >= 0 ? ms : undefined;
};
