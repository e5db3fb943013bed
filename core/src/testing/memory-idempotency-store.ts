import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
  KeyRef,
  Progress,
  StoredResponse,
} from "../idempotency/store.js";

/** One key, as the shared table holds it. */
export interface MemoryKeyRow {
  operationId: string;
  requestHash: string;
  state: "in_flight" | "completed" | "released";
  /** JSON text, as PostgreSQL keeps it. */
  response: string | null;
  /** JSON text, as PostgreSQL keeps it. */
  progress: string | null;
  lockedUntil: number;
  expiresAt: number;
}

/**
 * The shared idempotency table's contract in memory, kept in step with SqlIdempotencyStore
 * (core/src/db/idempotency-store.ts) by the same tests: claim-or-report in one step, results and
 * progress stored as JSON text, expired keys taken over, released keys forgotten, or kept with
 * their progress for the same request.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  /** By scope and key (`${scope}\u0000${key}`), as the table's primary key (scope, key). */
  readonly rows = new Map<string, MemoryKeyRow>();

  /** The row of a key text in whatever scope it was stored (tests that do not know the scope). */
  byKey(key: string): MemoryKeyRow | undefined {
    for (const [id, row] of this.rows) {
      if (id.slice(id.indexOf("\u0000") + 1) === key) {
        return row;
      }
    }
    return undefined;
  }

  private row(ref: KeyRef): MemoryKeyRow | undefined {
    return this.rows.get(`${ref.scope}\u0000${ref.key}`);
  }

  async begin(claim: IdempotencyClaim): Promise<BeginOutcome> {
    const now = claim.now.getTime();
    const existing = this.row(claim);
    const expired = existing === undefined || existing.expiresAt <= now;
    const sameRequest =
      existing?.operationId === claim.operationId && existing.requestHash === claim.requestHash;
    if (existing === undefined || expired || (existing.state === "released" && sameRequest)) {
      // An expired key starts over; a released one resumes from its progress.
      const progress = existing === undefined || expired ? null : existing.progress;
      this.rows.set(`${claim.scope}\u0000${claim.key}`, {
        operationId: claim.operationId,
        requestHash: claim.requestHash,
        state: "in_flight",
        response: null,
        progress,
        lockedUntil: now + claim.leaseMs,
        expiresAt: now + claim.ttlMs,
      });
      return { outcome: "started", progress: progress === null ? {} : (JSON.parse(progress) as Progress) };
    }
    if (!sameRequest) {
      return { outcome: "mismatch" };
    }
    if (existing.state === "completed" && existing.response !== null) {
      return { outcome: "replay", response: JSON.parse(existing.response) as StoredResponse };
    }
    return { outcome: "in_flight", abandoned: existing.lockedUntil <= now };
  }

  async complete(ref: KeyRef, response: StoredResponse): Promise<void> {
    const row = this.row(ref);
    if (row?.state === "in_flight") {
      row.state = "completed";
      row.response = JSON.stringify(response);
    }
  }

  async saveProgress(ref: KeyRef, progress: Progress): Promise<void> {
    const row = this.row(ref);
    if (row?.state !== "in_flight") {
      throw new Error("the idempotency key is no longer held by this request");
    }
    row.progress = JSON.stringify(progress);
  }

  async release(ref: KeyRef): Promise<void> {
    const row = this.row(ref);
    if (row?.state !== "in_flight") {
      return;
    }
    if (row.progress === null) {
      this.rows.delete(`${ref.scope}\u0000${ref.key}`);
    } else {
      row.state = "released";
    }
  }
}
