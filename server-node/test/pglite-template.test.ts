/**
 * The PGlite template (assets/pglite-template.tar.br): an empty data directory as the installed
 * PGlite's initdb leaves it, which a first start copies instead of running initdb (most of the
 * 14 s a first start used to take). It must match the installed PGlite, and a copy must be whole.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { PGlite } from "@electric-sql/pglite";
import { migrations } from "@n2store/core/db";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";
import {
  createFromTemplate,
  installedPgliteVersion,
  loadTemplate,
  templateInfo,
} from "../src/db/pglite-template.js";

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/** One ustar header block for `name` (a regular file of `size` bytes, or a directory). */
function header(name: string, size: number, type: "0" | "5"): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, "utf8");
  block.write("0000600\0", 100, "ascii");
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  block.write(type, 156, "ascii");
  block.write("ustar\0", 257, "ascii");
  return block;
}

describe("the PGlite template", () => {
  const scratch = mkdtempSync(join(tmpdir(), "n2store-template-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("was made by the installed PGlite, with every migration (else: npm run pglite-template --workspace server-node)", () => {
    expect(templateInfo()?.pglite).toBe(installedPgliteVersion());
    expect(templateInfo()?.migrations).toEqual(Object.keys(migrations).sort());
  });

  it("copies into a new directory that PGlite opens without initdb, its schema up to date", async () => {
    const dataDir = join(scratch, "new", "pglite");
    const database = await openDatabase({ databaseUrl: null, dataDir, log: quiet });
    try {
      expect(database.opened.origin).toBe("pglite-template");
      expect(await database.migrate()).toEqual([]);
      const { rows } = await sql<{ shared_buffers: string }>`show shared_buffers`.execute(database.db);
      expect(rows[0]?.shared_buffers).toBe(templateInfo()?.sharedBuffers);
      const tables = await database.db.introspection.getTables();
      expect(tables.map((table) => table.name)).toEqual(
        expect.arrayContaining(["customers", "sepay_logs", "idempotency_keys", "realtime_session"]),
      );
      const version = readFileSync(join(dataDir, "PG_VERSION"), "utf8").trim();
      expect(templateInfo()?.postgres.split(".")[0]).toBe(version);
    } finally {
      await database.close();
    }
    // The next open finds the directory and keeps its data.
    const again = await openDatabase({ databaseUrl: null, dataDir, log: quiet });
    try {
      expect(again.opened.origin).toBe("pglite-existing");
      expect(await again.migrate()).toEqual([]);
    } finally {
      await again.close();
    }
  }, 120_000);

  it("serves the in-memory databases of the tests too", async () => {
    const template = await loadTemplate();
    expect("tar" in template).toBe(true);
    const pglite = new PGlite({ loadDataDir: new Blob(["tar" in template ? template.tar : ""]) });
    try {
      expect((await pglite.query<{ one: number }>("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await pglite.close();
    }
  }, 120_000);

  it("leaves a directory that already holds files to PGlite", async () => {
    const dataDir = join(scratch, "occupied");
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, "notes.txt"), "mine");
    expect(await createFromTemplate(dataDir)).toBe(false);
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(false);
  });

  it("extracts files across chunk boundaries, byte for byte", async () => {
    const body = Buffer.from("x".repeat(700));
    const tar = Buffer.concat([
      header("/base", 0, "5"),
      header("/base/1", body.length, "0"),
      body,
      Buffer.alloc(1024 - body.length),
      header("/PG_VERSION", 3, "0"),
      Buffer.from("18\n"),
      Buffer.alloc(509),
      Buffer.alloc(1024),
    ]);
    // Chunks of 100 bytes: headers and file bodies both arrive in pieces.
    const chunks = Array.from({ length: Math.ceil(tar.length / 100) }, (_, i) =>
      tar.subarray(i * 100, i * 100 + 100),
    );
    const dataDir = join(scratch, "chunked");
    expect(await createFromTemplate(dataDir, () => Readable.from(chunks))).toBe(true);
    expect(readFileSync(join(dataDir, "base/1"))).toEqual(body);
    expect(readFileSync(join(dataDir, "PG_VERSION"), "utf8")).toBe("18\n");
  });

  it("refuses an archive entry that would land outside the directory, leaving nothing", async () => {
    const tar = Buffer.concat([header("/../escaped", 0, "0"), Buffer.alloc(1024)]);
    const dataDir = join(scratch, "escape");
    await expect(createFromTemplate(dataDir, () => Readable.from([tar]))).rejects.toThrow(/unexpected path/);
    expect(existsSync(join(scratch, "escaped"))).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });

  it("makes nothing when the copy fails half-way: no half database to open later", async () => {
    const version = Buffer.concat([header("/PG_VERSION", 3, "0"), Buffer.from("18\n"), Buffer.alloc(509)]);
    const cut = Buffer.concat([version, header("/base/1", 8192, "0"), Buffer.alloc(100)]);
    const dataDir = join(scratch, "half");
    await expect(createFromTemplate(dataDir, () => Readable.from([cut]))).rejects.toThrow(/middle of a file/);
    expect(existsSync(dataDir)).toBe(false);
    const noVersion = Buffer.concat([header("/base", 0, "5"), Buffer.alloc(1024)]);
    await expect(createFromTemplate(dataDir, () => Readable.from([noVersion]))).rejects.toThrow(/PG_VERSION/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
