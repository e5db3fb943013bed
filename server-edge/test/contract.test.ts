import { migrations } from "@n2store/core/db";
import { edgeTarget, runContractSuite } from "@n2store/testkit/contract";
import { Kysely, Migrator, PostgresDialect } from "kysely";
import pg from "pg";

/**
 * With DATABASE_URL the Worker's Hyperdrive points at a fresh database. No Node server runs here to
 * migrate it, so the shared schema (the idempotency-key table) is created the way the Node server
 * creates it: Kysely's Migrator with core's migrations.
 */
async function migrate(url: string): Promise<void> {
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
  });
  try {
    const { error } = await new Migrator({
      db,
      provider: { getMigrations: async () => migrations },
    }).migrateToLatest();
    if (error !== undefined) {
      throw error;
    }
  } finally {
    await db.destroy();
  }
}

// The contract suite against the Worker in real workerd (wrangler dev), on the testkit fakes.
// Without DATABASE_URL it has no reachable idempotency store: keyed non-idempotent calls then
// answer 503 IDEMPOTENCY_STORE_UNAVAILABLE, which the cases accept as declared. TARGETS=node skips it.
runContractSuite([edgeTarget()], { log: console.log, prepareDatabase: migrate });
