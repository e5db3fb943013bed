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

/**
 * The checkpoints of one keyed call: for each step a handler finished upstream (a message part
 * sent, say), the JSON value it recorded, by step name. Kept with the key across attempts.
 */
export type Progress = Readonly<Record<string, unknown>>;

/** What `begin` found for a key. */
export type BeginOutcome =
  /**
   * The key is new (or expired, or released with progress by an earlier attempt of this same
   * request): this request runs, and must complete or release it. `progress` holds what earlier
   * attempts recorded (empty for a new key).
   */
  | { readonly outcome: "started"; readonly progress: Progress }
  /** A request with this key and the same body finished: replay its response. */
  | { readonly outcome: "replay"; readonly response: StoredResponse }
  /** A request with this key is still running (or stopped without finishing: `abandoned`). */
  | { readonly outcome: "in_flight"; readonly abandoned: boolean }
  /** This key was used for a different request. */
  | { readonly outcome: "mismatch" };

/** One idempotency key claim. */
/**
 * An Idempotency-Key as the store holds it: the caller's key within the scope of the credential the
 * request carried (`scope`, a keyed hash of it). Another caller with the same key is another key, as
 * Stripe scopes keys per account: it neither sees the first caller's answer nor blocks it.
 */
export interface KeyRef {
  readonly scope: string;
  readonly key: string;
}

export interface IdempotencyClaim extends KeyRef {
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
  complete(ref: KeyRef, response: StoredResponse, now: Date): Promise<void>;
  /**
   * Replaces the progress of a key this request holds (in flight). Rejects when the key is no
   * longer held, so a step that cannot be recorded is never taken as recorded.
   */
  saveProgress(ref: KeyRef, progress: Progress): Promise<void>;
  /**
   * Lets a key go whose request did nothing beyond its recorded progress, so a retry may run. A
   * key without progress is forgotten (the key is free for any request); a key with progress is
   * kept, released, for the same request only, which then resumes from that progress.
   */
  release(ref: KeyRef): Promise<void>;
}
