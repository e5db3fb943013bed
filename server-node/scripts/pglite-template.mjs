// Writes assets/pglite-template.tar.br: an empty PGlite data directory, as `initdb` leaves it, for
// the installed @electric-sql/pglite. The Node server copies it into a new DATA_DIR (and into the
// in-memory databases of the tests) instead of running initdb, which takes 6-10 s of CPU on the
// machines this project runs on: the bulk of a first start. Run it after upgrading PGlite
// (`npm run pglite-template --workspace server-node`); a test fails while the template is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants } from "node:zlib";
import { PGlite } from "@electric-sql/pglite";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
// The package does not export its package.json; it sits two levels above its entry point.
const pglitePackage = resolve(dirname(require.resolve("@electric-sql/pglite")), "..", "package.json");
const { version } = JSON.parse(readFileSync(pglitePackage, "utf8"));

const started = performance.now();
const pglite = new PGlite();
await pglite.waitReady;
const [{ server_version: serverVersion }] = (await pglite.query("show server_version")).rows;
const tar = new Uint8Array(await (await pglite.dumpDataDir("none")).arrayBuffer());
await pglite.close();
const initdbMs = performance.now() - started;

// Brotli at its best with a 16 MB window: the three databases initdb makes are near copies, which
// a large window finds (gzip: 4.5 MB, this: about 1.4 MB). Decompressing takes a fraction of a second.
const compressed = brotliCompressSync(tar, {
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 11,
    [constants.BROTLI_PARAM_LGWIN]: 24,
    [constants.BROTLI_PARAM_SIZE_HINT]: tar.length,
  },
});
writeFileSync(resolve(root, "assets/pglite-template.tar.br"), compressed);
writeFileSync(
  resolve(root, "assets/pglite-template.json"),
  `${JSON.stringify({ pglite: version, postgres: serverVersion, tarBytes: tar.length }, null, 2)}\n`,
);
console.log(
  `assets/pglite-template.tar.br: PGlite ${version} (PostgreSQL ${serverVersion}), ${tar.length} bytes of data directory, ${compressed.length} compressed; initdb took ${Math.round(initdbMs)} ms`,
);
