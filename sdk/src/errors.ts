/** Why a call threw instead of returning a response. */
export type NetworkFailure = "network" | "timeout" | "aborted";

/**
 * Thrown when no server gave an HTTP response: every server failed before answering, the call's
 * deadline passed, or the caller aborted. HTTP errors are not thrown: they come back as `{ error }`,
 * as in openapi-fetch. A `TypeError`, as `fetch` rejects with on a network failure, so code written
 * for `fetch` (`e instanceof TypeError`) treats it as one.
 *
 * @example
 * try {
 *   await client.POST("/api/facebook-send", { body });
 * } catch (e) {
 *   if (isN2StoreNetworkError(e) && e.maybeDelivered) {
 *     // Do not resend blindly: the message may have gone out. Retry with the same Idempotency-Key.
 *   }
 * }
 */
export class N2StoreNetworkError extends TypeError {
  /** Brand checked by {@link isN2StoreNetworkError}; survives two copies of the SDK in one page. */
  declare readonly isN2StoreNetworkError: true;
  /** `network`: no server answered; `timeout`: an attempt or the deadline ran out; `aborted`: the caller's signal. */
  declare readonly reason: NetworkFailure;
  /** The base URL of every attempt, in order (a server appears twice when it was retried). */
  declare readonly servers: string[];
  /** How many requests were sent. */
  declare readonly attempts: number;
  /**
   * False only when every attempt provably never reached a server (connection refused, DNS,
   * connect timeout): then sending again cannot run the operation twice.
   */
  declare readonly maybeDelivered: boolean;
  /** Milliseconds until a server that asked to be left alone (Retry-After) takes calls again. */
  declare readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    reason: NetworkFailure,
    servers: string[],
    maybeDelivered: boolean,
    retryAfterMs?: number,
    cause?: unknown,
  ) {
    super(message, { cause });
    // Assigned in one go (no class fields): this class ships to browsers, every byte counts.
    Object.assign(this, {
      name: "N2StoreNetworkError",
      isN2StoreNetworkError: true,
      reason,
      servers,
      attempts: servers.length,
      maybeDelivered,
      retryAfterMs,
    });
  }
}

/**
 * Whether `e` is an {@link N2StoreNetworkError}, also one thrown by another copy of the SDK.
 *
 * @example
 * if (isN2StoreNetworkError(e)) console.log(e.reason, e.attempts, e.maybeDelivered);
 */
export const isN2StoreNetworkError = (e: unknown): e is N2StoreNetworkError =>
  (e as { isN2StoreNetworkError?: unknown } | null)?.isN2StoreNetworkError === true;
