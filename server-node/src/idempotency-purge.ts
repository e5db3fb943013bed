import type { Logger } from "@n2store/core";
import type { SqlIdempotencyStore } from "@n2store/core/db";
import type { DatabaseHandle } from "./db/database.js";

/** The advisory lock whose holder purges expired idempotency keys ("N2IP"). */
export const PURGE_LOCK_KEY = 0x4e32_4950;

/** Options of startIdempotencyPurge. */
export interface IdempotencyPurgeOptions {
  readonly store: SqlIdempotencyStore;
  readonly database: DatabaseHandle;
  readonly log: Logger;
  /** How often an instance tries to purge (IDEMPOTENCY_PURGE_INTERVAL_MS, 10 minutes by default). */
  readonly intervalMs: number;
  /** Keys deleted per statement. */
  readonly batch?: number;
  /** Statements per run: a run deletes at most batch × maxBatches keys, the rest wait for the next. */
  readonly maxBatches?: number;
}

/**
 * Deletes expired idempotency keys (kept 24 hours) every `intervalMs`, so the table does not grow
 * forever. Every instance tries; the one that gets the advisory lock purges, the others skip the
 * run. A run is bounded (batch × maxBatches keys, in statements of `batch`), so it never holds the
 * table or the database for long; a backlog shrinks run by run. Returns a function that stops it.
 */
export function startIdempotencyPurge(options: IdempotencyPurgeOptions): () => Promise<void> {
  const batch = options.batch ?? 1000;
  const maxBatches = options.maxBatches ?? 10;
  let running: Promise<void> = Promise.resolve();
  const run = async (): Promise<void> => {
    const lock = await options.database.tryLock(PURGE_LOCK_KEY);
    if (lock === null) {
      return;
    }
    try {
      let purged = 0;
      for (let i = 0; i < maxBatches; i++) {
        const deleted = await options.store.purgeExpired(new Date(), batch);
        purged += deleted;
        if (deleted < batch) {
          break;
        }
      }
      if (purged > 0) {
        options.log.info({ purged }, "purged expired idempotency keys");
      }
    } finally {
      await lock.release();
    }
  };
  const timer = setInterval(() => {
    running = running
      .then(run)
      .catch((error: unknown) => options.log.warn({ err: error }, "could not purge idempotency keys"));
  }, options.intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
