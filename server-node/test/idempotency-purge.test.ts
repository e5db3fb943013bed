/**
 * Expired idempotency keys are purged on a timer, in bounded runs, by the one instance holding the
 * purge lock; the table used to grow forever (`purgeExpired` was never called).
 */
import { silentLogger } from "@n2store/core";
import { SqlIdempotencyStore } from "@n2store/core/db";
import { CompiledQuery, sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { type DatabaseHandle, openDatabase } from "../src/db/database.js";
import { PURGE_LOCK_KEY, startIdempotencyPurge } from "../src/idempotency-purge.js";
import { createTestDatabase, databaseTargets } from "./harness.js";

const HOUR = 3_600_000;

async function seed(database: DatabaseHandle, expired: number, live: number): Promise<void> {
  const now = Date.now();
  const rows = (count: number, expiresAt: number, prefix: string) =>
    Array.from({ length: count }, (_, i) => ({
      scope: "",
      key: `${prefix}-${i}`,
      operation_id: "sendFacebookMessage",
      request_hash: "h",
      state: "completed" as const,
      response: "{}",
      progress: null,
      created_at: new Date(expiresAt - 24 * HOUR),
      locked_until: new Date(expiresAt - 24 * HOUR),
      expires_at: new Date(expiresAt),
    }));
  for (const [count, at, prefix] of [
    [expired, now - HOUR, "old"],
    [live, now + HOUR, "live"],
  ] as const) {
    for (let i = 0; i < count; i += 500) {
      await database.db
        .insertInto("idempotency_keys")
        .values(rows(Math.min(500, count - i), at, `${prefix}-${i}`))
        .execute();
    }
  }
}

async function counts(database: DatabaseHandle): Promise<{ expired: number; live: number }> {
  const row = await database.db
    .selectFrom("idempotency_keys")
    .select([
      sql<string>`count(*) filter (where expires_at <= now())`.as("expired"),
      sql<string>`count(*) filter (where expires_at > now())`.as("live"),
    ])
    .executeTakeFirstOrThrow();
  return { expired: Number(row.expired), live: Number(row.live) };
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, limitMs = 10_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) {
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(databaseTargets())("idempotency key purge on %s", (target) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) {
      await step();
    }
  });

  async function open(): Promise<{ database: DatabaseHandle; url: string | null }> {
    let url: string | null = null;
    if (target === "postgres") {
      const created = await createTestDatabase();
      url = created.url;
      cleanup.push(created.drop);
    }
    const database = await openDatabase({ databaseUrl: url, dataDir: null, log: silentLogger });
    cleanup.push(() => database.close());
    await database.migrate();
    return { database, url };
  }

  const storeOf = (database: DatabaseHandle) =>
    new SqlIdempotencyStore(async <Row>(text: string, parameters: readonly unknown[]) => {
      const result = await database.db.executeQuery<Row>(CompiledQuery.raw(text, [...parameters]));
      return { rows: [...result.rows] };
    });

  it("deletes expired keys in bounded runs on its timer and leaves live ones", async () => {
    const { database } = await open();
    await seed(database, 2500, 40);
    expect(await counts(database)).toEqual({ expired: 2500, live: 40 });
    const stop = startIdempotencyPurge({
      store: storeOf(database),
      database,
      log: silentLogger,
      intervalMs: 300,
      batch: 500,
      maxBatches: 2,
    });
    cleanup.push(stop);
    // One run deletes at most 2 × 500; the backlog goes down run by run.
    const seen = new Set<number>();
    const last = await until(
      async () => {
        const now = await counts(database);
        seen.add(now.expired);
        return now;
      },
      (now) => now.expired === 0,
    );
    expect(last).toEqual({ expired: 0, live: 40 });
    expect([...seen].filter((expired) => expired > 0 && expired < 2500).sort((a, b) => b - a)).toEqual(
      expect.arrayContaining([1500, 500]),
    );
    expect([...seen].every((expired) => expired % 500 === 0)).toBe(true);
  });

  it.skipIf(target !== "postgres")(
    "leaves the purge to the instance holding the lock, and takes over when it lets go",
    async () => {
      const { database, url } = await open();
      await seed(database, 300, 0);
      // Another instance holds the purge lock.
      const other = new pg.Client({ connectionString: url as string });
      await other.connect();
      cleanup.push(() => other.end());
      await other.query("select pg_advisory_lock($1)", [PURGE_LOCK_KEY]);
      const stop = startIdempotencyPurge({
        store: storeOf(database),
        database,
        log: silentLogger,
        intervalMs: 100,
      });
      cleanup.push(stop);
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect((await counts(database)).expired, "nothing purged while another instance holds the lock").toBe(
        300,
      );
      await other.query("select pg_advisory_unlock($1)", [PURGE_LOCK_KEY]);
      expect(
        (
          await until(
            () => counts(database),
            (now) => now.expired === 0,
          )
        ).expired,
      ).toBe(0);
    },
  );
});
