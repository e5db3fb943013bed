// Size budget: what a browser loads (dist plus openapi-fetch), bundled and minified by esbuild.
// Run after `npm run build` (the `size` script does both). Fails when the whole SDK exceeds the budget.
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET_GZIP = 6 * 1024;
const sdk = fileURLToPath(new URL("..", import.meta.url));

const measure = async (contents: string) => {
  const out = await build({
    stdin: { contents, resolveDir: sdk, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  const code = out.outputFiles[0]?.contents ?? new Uint8Array();
  return { min: code.byteLength, gzip: gzipSync(code, { level: 9 }).byteLength };
};

const rows: [string, string][] = [
  ["openapi-fetch alone", 'export { default } from "openapi-fetch";'],
  ["createClient (no realtime)", 'export { createClient, isN2StoreNetworkError } from "./dist/index.js";'],
  ["createRealtime alone", 'export { createRealtime } from "./dist/index.js";'],
  ["everything", 'export * from "./dist/index.js";'],
];
const row = (name: string, min: number, gzip: number) =>
  console.log(`${name.padEnd(28)} ${String(min).padStart(6)} B min  ${String(gzip).padStart(5)} B min+gzip`);
const sizes: { min: number; gzip: number }[] = [];
for (const [name, contents] of rows) {
  const size = await measure(contents);
  sizes.push(size);
  row(name, size.min, size.gzip);
}
const fetchOnly = sizes[0] ?? { min: 0, gzip: 0 };
const all = sizes.at(-1) ?? { min: 0, gzip: 0 };
row("the SDK's own share", all.min - fetchOnly.min, all.gzip - fetchOnly.gzip);
const total = all.gzip;
if (total > BUDGET_GZIP) {
  console.error(`over budget: ${total} B > ${BUDGET_GZIP} B min+gzip`);
  process.exit(1);
}
console.log(`budget ${BUDGET_GZIP} B min+gzip: ok (${BUDGET_GZIP - total} B left)`);
