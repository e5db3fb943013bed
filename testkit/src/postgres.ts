import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * A fresh database on the DATABASE_URL server, for one test file; `drop()` removes it. The URL
 * keeps DATABASE_URL's credentials (Hyperdrive's local mode needs a password even with trust auth).
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (base === undefined || base === "") {
    throw new Error("DATABASE_URL is not set");
  }
  const name = `n2store_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
