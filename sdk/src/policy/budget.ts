import type { ServerState } from "../options.js";

/**
 * The retry budget of each server, kept on its {@link ServerState} (gRPC's retry throttling, A6): a
 * bucket of `maxTokens` tokens. Every failure there costs a token and every success earns
 * `tokenRatio` back; a retry or failover that is not free may go to the server only while it holds
 * more than half. So when every server fails, calls soon stop multiplying into retries (one request
 * per call) instead of tripling the load on servers that are already in trouble, and ten successes
 * (at the default 0.1) buy one retry back.
 *
 * Plain functions of the server's state, not a class: the SDK ships to browsers, and a minifier
 * shortens parameters but not property names.
 */

/** Adds `tokens` to the server's bucket (-1 for a failure, `tokenRatio` for a success), within 0..maxTokens. */
export const refill = (s: ServerState, tokens: number, maxTokens: number) => {
  s.retryTokens = Math.max(0, Math.min(maxTokens, s.retryTokens + tokens));
};

/** Whether a retry or failover that costs something may go to the server: more than half left. */
export const allows = (s: ServerState, maxTokens: number) => s.retryTokens > maxTokens / 2;
