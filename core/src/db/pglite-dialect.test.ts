import { PGlite } from "@electric-sql/pglite";
import { Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PGliteDialect } from "./pglite-dialect.js";

interface Db {
  items: { id: number; name: string };
}

describe("PGliteDialect", () => {
  let pglite: PGlite;
  let db: Kysely<Db>;
  beforeAll(async () => {
    pglite = new PGlite();
    db = new Kysely<Db>({ dialect: new PGliteDialect(pglite) });
    await sql`create table items (id integer primary key, name text not null)`.execute(db);
  }, 30_000);
  afterAll(async () => {
    await db.destroy();
  });

  it("counts the rows an insert, update and delete changed, and none for a select", async () => {
    const inserted = await db
      .insertInto("items")
      .values([
        { id: 1, name: "a" },
        { id: 2, name: "b" },
      ])
      .executeTakeFirst();
    expect(inserted.numInsertedOrUpdatedRows).toBe(2n);
    const updated = await db.updateTable("items").set({ name: "c" }).where("id", "=", 1).executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(1n);
    const none = await db.updateTable("items").set({ name: "c" }).where("id", "=", 99).executeTakeFirst();
    expect(none.numUpdatedRows).toBe(0n);
    // A data-modifying CTE: the guess from the SQL text ("starts with delete") used to miss it.
    const raw =
      await sql`with gone as (delete from items where id = 2 returning id) select count(*) from gone`.execute(
        db,
      );
    expect(raw.rows).toEqual([{ count: 1 }]);
    const deleted = await db.deleteFrom("items").where("id", "=", 1).executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(1n);
    const selected = await sql`select 1 as one`.execute(db);
    expect(selected.numAffectedRows).toBeUndefined();
  });

  it("rolls a transaction back to a savepoint and keeps what came before it", async () => {
    const trx = await db.startTransaction().execute();
    await trx.insertInto("items").values({ id: 10, name: "kept" }).execute();
    const second = await trx.savepoint("before_second").execute();
    await second.insertInto("items").values({ id: 11, name: "dropped" }).execute();
    const back = await second.rollbackToSavepoint("before_second").execute();
    const third = await back.savepoint("third").execute();
    await third.insertInto("items").values({ id: 12, name: "also kept" }).execute();
    await (await third.releaseSavepoint("third").execute()).commit().execute();
    const names = await db.selectFrom("items").select("name").where("id", ">=", 10).orderBy("id").execute();
    expect(names.map((row) => row.name)).toEqual(["kept", "also kept"]);
  });

  it("starts a transaction with the isolation level and access mode asked for", async () => {
    const level = await db
      .transaction()
      .setIsolationLevel("serializable")
      .setAccessMode("read only")
      .execute(async (trx) => {
        const isolation = await sql<{ transaction_isolation: string }>`show transaction_isolation`.execute(
          trx,
        );
        const readOnly = await sql<{ transaction_read_only: string }>`show transaction_read_only`.execute(
          trx,
        );
        return [isolation.rows[0]?.transaction_isolation, readOnly.rows[0]?.transaction_read_only];
      });
    expect(level).toEqual(["serializable", "on"]);
  });
});
