import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
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
  readonly rows = new Map<string, MemoryKeyRow>();

  async begin(claim: IdempotencyClaim): Promise<BeginOutcome> {
    const now = claim.now.getTime();
    const existing = this.rows.get(claim.key);
    const expired = existing === undefined || existing.expiresAt <= now;
    const sameRequest =
      existing?.operationId === claim.operationId && existing.requestHash === claim.requestHash;
    if (existing === undefined || expired || (existing.state === "released" && sameRequest)) {
      // An expired key starts over; a released one resumes from its progress.
      const progress = existing === undefined || expired ? null : existing.progress;
      this.rows.set(claim.key, {
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

  async complete(key: string, response: StoredResponse): Promise<void> {
    const row = this.rows.get(key);
    if (row?.state === "in_flight") {
      row.state = "completed";
      row.response = JSON.stringify(response);
    }
  }

  async saveProgress(key: string, progress: Progress): Promise<void> {
    const row = this.rows.get(key);
    if (row?.state !== "in_flight") {
      throw new Error("the idempotency key is no longer held by this request");
    }
    row.progress = JSON.stringify(progress);
  }

  async release(key: string): Promise<void> {
    const row = this.rows.get(key);
    if (row?.state !== "in_flight") {
      return;
    }
    if (row.progress === null) {
      this.rows.delete(key);
    } else {
      row.state = "released";
    }
  }
}
