// Writes assets/pglite-template.tar.br: a PGlite data directory as initdb leaves it, with the schema
// of every migration applied, for the installed @electric-sql/pglite. The Node server copies it into
// a new DATA_DIR (and into the tests' in-memory databases) instead of running initdb and the
// migrations, which took 6-10 s and 1-2 s of CPU on this project's machines: most of a first start.
// The server still runs the migrator, which applies any migration newer than the template.
//
// Run it after upgrading PGlite or adding a migration: `npm run pglite-template --workspace server-node`.
// test/pglite-template.test.ts fails while the template is stale, naming this command.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import { PGlite } from "@electric-sql/pglite";
import { type Database, PGliteDialect } from "@n2store/core/db";
import { Kysely } from "kysely";
import { runMigrations } from "../src/db/database.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SHARED_BUFFERS = "16MB";
const require = createRequire(import.meta.url);
// The package does not export its package.json; it sits one level above its entry's folder.
const pglitePackage = resolve(dirname(require.resolve("@electric-sql/pglite")), "..", "package.json");
const { version } = JSON.parse(readFileSync(pglitePackage, "utf8")) as { version: string };

const started = performance.now();
// A 16 MB buffer cache, not initdb's 128 MB: an embedded, one-session database of a shop's records
// needs no more (the operating system caches its files too), and PGlite sets the whole cache up at
// every start: 0.4-1 s less per start on this project's machines, and less memory.
const pglite = new PGlite({ initDbStartParams: ["--set", `shared_buffers=${SHARED_BUFFERS}`] });
await pglite.waitReady;
const initdbMs = performance.now() - started;
const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
const applied = await runMigrations(db);
const serverVersion = (await pglite.query<{ server_version: string }>("show server_version")).rows[0]
  ?.server_version;
// A checkpoint first, so the copy starts with nothing to replay.
await pglite.exec("CHECKPOINT");
const tar = new Uint8Array(await (await pglite.dumpDataDir("none")).arrayBuffer());
await pglite.close();

// Brotli at its best with a 16 MB window: the three databases initdb makes are near copies, which
// a large window finds (gzip: 4.5 MB, this: about 1.4 MB).
const compressed = brotliCompressSync(tar, {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 11,
    [constants.BROTLI_PARAM_LGWIN]: 24,
    [constants.BROTLI_PARAM_SIZE_HINT]: tar.length,
  },
});
writeFileSync(resolve(root, "assets/pglite-template.tar.br"), compressed);
const info = {
  pglite: version,
  postgres: serverVersion,
  sharedBuffers: SHARED_BUFFERS,
  migrations: applied,
  tarBytes: tar.length,
};
writeFileSync(resolve(root, "assets/pglite-template.json"), `${JSON.stringify(info, null, 2)}\n`);
console.log(
  `assets/pglite-template.tar.br: PGlite ${version} (PostgreSQL ${serverVersion}), ${applied.length} migrations, ${tar.length} bytes of data directory, ${compressed.length} compressed; initdb took ${Math.round(initdbMs)} ms`,
);
