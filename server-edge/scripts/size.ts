// `npm run size:edge`: builds the Worker exactly as a deploy would (wrangler deploy --dry-run
// --outdir) and prints its size, minified and gzipped. Goal: <= 100 KB gzipped. Exits 1 over it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const edge = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = mkdtempSync(join(tmpdir(), "n2store-edge-"));
const build = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", out], {
  cwd: edge,
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  encoding: "utf8",
});
if (build.status !== 0) {
  console.error(build.stdout, build.stderr);
  process.exit(1);
}
const bundle = readFileSync(join(out, "index.js"));
rmSync(out, { recursive: true, force: true });
const gzipped = gzipSync(bundle, { level: 9 }).length;
const budget = 100 * 1024;
console.log(
  `Worker bundle: ${(bundle.length / 1024).toFixed(1)} KB minified, ${(gzipped / 1024).toFixed(1)} KB gzipped ` +
    `(budget ${budget / 1024} KB gzipped: ${gzipped <= budget ? "ok" : "OVER"})`,
);
process.exit(gzipped <= budget ? 0 : 1);
