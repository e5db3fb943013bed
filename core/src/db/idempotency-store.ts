import { type Kysely, sql } from "kysely";
import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
  StoredResponse,
} from "../idempotency/store.js";
import type { Database } from "./schema.js";

/** The shared idempotency-key table, on any Kysely PostgreSQL connection (pg, PGlite, Hyperdrive). */
export class KyselyIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async begin(claim: IdempotencyClaim): Promise<BeginOutcome> {
    const { key, operationId, requestHash, now } = claim;
    const expiresAt = new Date(now.getTime() + claim.ttlMs);
    const lockedUntil = new Date(now.getTime() + claim.leaseMs);
    // Claim the key, or take over one whose stored result has expired; one statement, so two
    // requests with the same key on any instance or runtime can never both get "started".
    const claimed = await sql<{ key: string }>`
      INSERT INTO idempotency_keys (key, operation_id, request_hash, state, response, created_at, locked_until, expires_at)
      VALUES (${key}, ${operationId}, ${requestHash}, 'in_flight', NULL, ${now}, ${lockedUntil}, ${expiresAt})
      ON CONFLICT (key) DO UPDATE SET
        operation_id = EXCLUDED.operation_id,
        request_hash = EXCLUDED.request_hash,
        state = 'in_flight',
        response = NULL,
        created_at = EXCLUDED.created_at,
        locked_until = EXCLUDED.locked_until,
        expires_at = EXCLUDED.expires_at
      WHERE idempotency_keys.expires_at <= ${now}
      RETURNING key`.execute(this.db);
    if (claimed.rows.length > 0) {
      return { outcome: "started" };
    }
    const existing = await this.db
      .selectFrom("idempotency_keys")
      .select(["operation_id", "request_hash", "state", "response", "locked_until"])
      .where("key", "=", key)
      .executeTakeFirst();
    if (existing === undefined) {
      // Released between the two statements: claim it again.
      return this.begin(claim);
    }
    if (existing.operation_id !== operationId || existing.request_hash !== requestHash) {
      return { outcome: "mismatch" };
    }
    if (existing.state === "completed" && existing.response !== null) {
      return { outcome: "replay", response: existing.response as StoredResponse };
    }
    return { outcome: "in_flight", abandoned: new Date(existing.locked_until).getTime() <= now.getTime() };
  }

  async complete(key: string, response: StoredResponse): Promise<void> {
    await this.db
      .updateTable("idempotency_keys")
      .set({ state: "completed", response: JSON.stringify(response) })
      .where("key", "=", key)
      .where("state", "=", "in_flight")
      .execute();
  }

  async release(key: string): Promise<void> {
    await this.db
      .deleteFrom("idempotency_keys")
      .where("key", "=", key)
      .where("state", "=", "in_flight")
      .execute();
  }

  /** Deletes expired keys; returns how many. */
  async purgeExpired(now: Date): Promise<number> {
    const result = await this.db
      .deleteFrom("idempotency_keys")
      .where("expires_at", "<=", now)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
