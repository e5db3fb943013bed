import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
  KeyRef,
  Progress,
  StoredResponse,
} from "../idempotency/store.js";

/**
 * Runs one parameterised SQL statement ($1, $2, ...) and returns its rows. Both runtimes provide
 * one: the Node server over its Kysely connection, the Worker over `pg` through Hyperdrive. The
 * store is written against this instead of Kysely's query builder so the Worker bundle stays small.
 */
export type SqlExecutor = <Row>(text: string, parameters: readonly unknown[]) => Promise<{ rows: Row[] }>;

// Claim the key: a new one, one whose stored result has expired (its progress is dropped), or one
// released with progress by an earlier attempt of this same request (its progress is kept, so the
// retry resumes). One statement, so two requests with the same key on any instance or runtime can
// never both be told "started".
const CLAIM = `
  INSERT INTO idempotency_keys (scope, key, operation_id, request_hash, state, response, progress, created_at, locked_until, expires_at)
  VALUES ($7, $1, $2, $3, 'in_flight', NULL, NULL, $4, $5, $6)
  ON CONFLICT (scope, key) DO UPDATE SET
    operation_id = EXCLUDED.operation_id,
    request_hash = EXCLUDED.request_hash,
    state = 'in_flight',
    response = NULL,
    progress = CASE WHEN idempotency_keys.expires_at <= $4 THEN NULL ELSE idempotency_keys.progress END,
    created_at = EXCLUDED.created_at,
    locked_until = EXCLUDED.locked_until,
    expires_at = EXCLUDED.expires_at
  WHERE idempotency_keys.expires_at <= $4
     OR (idempotency_keys.state = 'released'
         AND idempotency_keys.operation_id = EXCLUDED.operation_id
         AND idempotency_keys.request_hash = EXCLUDED.request_hash)
  RETURNING key, progress`;
const READ =
  "SELECT operation_id, request_hash, state, response, locked_until FROM idempotency_keys WHERE scope = $2 AND key = $1";
const COMPLETE =
  "UPDATE idempotency_keys SET state = 'completed', response = $2 WHERE scope = $3 AND key = $1 AND state = 'in_flight'";
const SAVE_PROGRESS =
  "UPDATE idempotency_keys SET progress = $2 WHERE scope = $3 AND key = $1 AND state = 'in_flight' RETURNING key";
// Without progress the key is forgotten; with progress it is kept, released, for the same request.
const RELEASE = `
  WITH forgotten AS (
    DELETE FROM idempotency_keys
    WHERE scope = $2 AND key = $1 AND state = 'in_flight' AND progress IS NULL RETURNING key
  )
  UPDATE idempotency_keys SET state = 'released'
  WHERE scope = $2 AND key = $1 AND state = 'in_flight' AND progress IS NOT NULL`;
// At most $2 expired keys a statement, oldest first: a purge never holds the table for long.
const PURGE = `
  DELETE FROM idempotency_keys WHERE (scope, key) IN (
    SELECT scope, key FROM idempotency_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2
  ) RETURNING key`;

interface KeyRow {
  operation_id: string;
  request_hash: string;
  state: "in_flight" | "completed" | "released";
  /** JSON text; a parsed object from a database still on migration 003's jsonb column. */
  response: StoredResponse | string | null;
  locked_until: Date | string;
}

/** The shared idempotency-key table (migrations 003, 005, 006 and 007), on any PostgreSQL connection. */
export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(private readonly run: SqlExecutor) {}

  async begin(claim: IdempotencyClaim): Promise<BeginOutcome> {
    const { scope, key, operationId, requestHash, now } = claim;
    const claimed = await this.run<{ key: string; progress: string | null }>(CLAIM, [
      key,
      operationId,
      requestHash,
      now,
      new Date(now.getTime() + claim.leaseMs),
      new Date(now.getTime() + claim.ttlMs),
      scope,
    ]);
    const [row] = claimed.rows;
    if (row !== undefined) {
      return {
        outcome: "started",
        progress: row.progress === null ? {} : (JSON.parse(row.progress) as Progress),
      };
    }
    const existing = (await this.run<KeyRow>(READ, [key, scope])).rows[0];
    if (existing === undefined) {
      // Forgotten between the two statements: claim it again.
      return this.begin(claim);
    }
    if (existing.operation_id !== operationId || existing.request_hash !== requestHash) {
      return { outcome: "mismatch" };
    }
    if (existing.state === "released") {
      // Released between the two statements: claim it again (and resume).
      return this.begin(claim);
    }
    if (existing.state === "completed" && existing.response !== null) {
      const response =
        typeof existing.response === "string" ? JSON.parse(existing.response) : existing.response;
      return { outcome: "replay", response: response as StoredResponse };
    }
    return { outcome: "in_flight", abandoned: new Date(existing.locked_until).getTime() <= now.getTime() };
  }

  async complete(ref: KeyRef, response: StoredResponse): Promise<void> {
    await this.run(COMPLETE, [ref.key, JSON.stringify(response), ref.scope]);
  }

  async saveProgress(ref: KeyRef, progress: Progress): Promise<void> {
    const saved = await this.run(SAVE_PROGRESS, [ref.key, JSON.stringify(progress), ref.scope]);
    if (saved.rows.length === 0) {
      throw new Error("the idempotency key is no longer held by this request");
    }
  }

  async release(ref: KeyRef): Promise<void> {
    await this.run(RELEASE, [ref.key, ref.scope]);
  }

  /** Deletes at most `limit` expired keys, the longest expired first; returns how many. */
  async purgeExpired(now: Date, limit: number): Promise<number> {
    return (await this.run(PURGE, [now, limit])).rows.length;
  }
}
