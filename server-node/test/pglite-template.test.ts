/**
 * The PGlite template (assets/pglite-template.tar.br): an empty data directory as the installed
 * PGlite's initdb leaves it, which a first start copies instead of running initdb (most of the
 * 14 s a first start used to take). It must match the installed PGlite, and a copy must be whole.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/database.js";
import {
  createFromTemplate,
  extractTar,
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

  it("was made by the installed PGlite (else: npm run pglite-template --workspace server-node)", () => {
    expect(templateInfo()?.pglite).toBe(installedPgliteVersion());
  });

  it("copies into a new directory that PGlite opens without initdb, and migrates", async () => {
    const dataDir = join(scratch, "new", "pglite");
    const database = await openDatabase({ databaseUrl: null, dataDir, log: quiet });
    try {
      expect(database.opened.origin).toBe("pglite-template");
      expect(await database.migrate()).toContain("2026-11-25-001-customers");
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
  });

  it("serves the in-memory databases of the tests too", async () => {
    const template = await loadTemplate();
    expect("tar" in template).toBe(true);
    const pglite = new PGlite({ loadDataDir: new Blob(["tar" in template ? template.tar : ""]) });
    try {
      expect((await pglite.query<{ one: number }>("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await pglite.close();
    }
  });

  it("leaves a directory that already holds files to PGlite", async () => {
    const template = await loadTemplate();
    const dataDir = join(scratch, "occupied");
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, "notes.txt"), "mine");
    expect(createFromTemplate("tar" in template ? template.tar : Buffer.alloc(0), dataDir)).toBe(false);
    expect(existsSync(join(dataDir, "PG_VERSION"))).toBe(false);
  });

  it("refuses an archive entry that would land outside the directory", () => {
    const tar = Buffer.concat([header("/../escaped", 0, "0"), Buffer.alloc(1024)]);
    expect(() => extractTar(tar, join(scratch, "escape"))).toThrow(/unexpected path/);
    expect(existsSync(join(scratch, "escaped"))).toBe(false);
  });

  it("makes nothing when the copy fails half-way (no PG_VERSION): no half database to open later", () => {
    const tar = Buffer.concat([
      header("/base", 0, "5"),
      header("/base/1", 3, "0"),
      Buffer.alloc(512),
      Buffer.alloc(1024),
    ]);
    const dataDir = join(scratch, "half");
    expect(() => createFromTemplate(tar, dataDir)).toThrow(/PG_VERSION/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
