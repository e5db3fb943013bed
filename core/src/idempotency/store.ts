/** A response kept for replay: what an idempotent retry gets back. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body:
    | { readonly kind: "json"; readonly value: unknown }
    | { readonly kind: "base64"; readonly value: string }
    | { readonly kind: "empty" }
    /** The first request completed, but its streamed response was too large (or broke) to keep. */
    | { readonly kind: "unavailable" };
}

/** What `begin` found for a key. */
export type BeginOutcome =
  /** The key is new (or expired): this request runs, and must complete or release it. */
  | { readonly outcome: "started" }
  /** A request with this key and the same body finished: replay its response. */
  | { readonly outcome: "replay"; readonly response: StoredResponse }
  /** A request with this key is still running (or stopped without finishing: `abandoned`). */
  | { readonly outcome: "in_flight"; readonly abandoned: boolean }
  /** This key was used for a different request. */
  | { readonly outcome: "mismatch" };

/** One idempotency key claim. */
export interface IdempotencyClaim {
  readonly key: string;
  readonly operationId: string;
  /** Hash of the operation, parameters and body: a retry must match it. */
  readonly requestHash: string;
  readonly now: Date;
  /** How long the stored result is kept (at least 24 hours). */
  readonly ttlMs: number;
  /** After this long, an unfinished request counts as abandoned (its outcome is unknown). */
  readonly leaseMs: number;
}

/**
 * The idempotency-key store both runtimes share: one PostgreSQL table, reached from the Node pool
 * and from the Worker through Hyperdrive. `begin` must be atomic across every instance and runtime.
 */
export interface IdempotencyStore {
  begin(claim: IdempotencyClaim): Promise<BeginOutcome>;
  complete(key: string, response: StoredResponse, now: Date): Promise<void>;
  /** Forgets a key whose request provably did nothing, so a retry may run it. */
  release(key: string): Promise<void>;
}
