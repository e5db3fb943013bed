import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { type DatabaseHandle, openDatabase } from "../db/database.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The database: Kysely on PostgreSQL or embedded PGlite, migrated. */
    database: DatabaseHandle;
  }
}

/** Opens the database, runs the migrations (under Kysely's advisory lock) and closes it on shutdown. */
export const databasePlugin = fp(
  async (app: FastifyInstance, options: { databaseUrl: string | null; dataDir: string | null }) => {
    const database = await openDatabase({ ...options, log: app.log });
    if (database.opened.note !== undefined) {
      app.log.warn({}, `${database.opened.note}: PGlite ran initdb, which takes several seconds`);
    }
    try {
      const started = performance.now();
      const applied = await database.migrate();
      app.log.info(
        {
          driver: database.driver,
          origin: database.opened.origin,
          openMs: Math.round(database.opened.ms),
          migrateMs: Math.round(performance.now() - started),
          applied,
        },
        applied.length > 0 ? "database migrated" : "database schema up to date",
      );
    } catch (error) {
      await database.close();
      throw error;
    }
    app.decorate("database", database);
    app.addHook("onClose", async () => {
      await database.close();
    });
  },
  { name: "n2store-database", fastify: "5.x" },
);
