// Size budgets: what a browser loads (dist plus openapi-fetch), bundled and minified by esbuild.
// Run after `npm run build` (the `size` script does both). Three budgets, each failing on its own:
// the main entry (everything it exports), the `./fetch` entry alone (a page that only swaps its
// fetch loads no openapi-fetch), and the one-file script for pages without a bundler, as shipped.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

/** Bytes, minified and gzipped. */
const BUDGETS = {
  main: 6 * 1024,
  fetch: 4 * 1024,
  script: 7.5 * 1024,
};
const sdk = fileURLToPath(new URL("..", import.meta.url));

type Size = { min: number; gzip: number };
const sizeOf = (code: Uint8Array): Size => ({
  min: code.byteLength,
  gzip: gzipSync(code, { level: 9 }).byteLength,
});

const measure = async (contents: string): Promise<Size> => {
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
  return sizeOf(out.outputFiles[0]?.contents ?? new Uint8Array());
};

const row = (name: string, { min, gzip }: Size) =>
  console.log(`${name.padEnd(36)} ${String(min).padStart(6)} B min  ${String(gzip).padStart(5)} B min+gzip`);

const rows: [string, string][] = [
  ["openapi-fetch alone", 'export { default } from "openapi-fetch";'],
  ["createClient (no realtime)", 'export { createClient, isN2StoreNetworkError } from "./dist/index.js";'],
  ["createRealtime alone", 'export { createRealtime } from "./dist/index.js";'],
  ["everything (main entry)", 'export * from "./dist/index.js";'],
  ["createFailoverFetch (./fetch entry)", 'export * from "./dist/fetch.js";'],
  [
    "both entries (each has the engine)",
    'export * from "./dist/index.js"; export { createFailoverFetch } from "./dist/fetch.js";',
  ],
];
const sizes = new Map<string, Size>();
for (const [name, contents] of rows) {
  const size = await measure(contents);
  sizes.set(name, size);
  row(name, size);
}
const zero = { min: 0, gzip: 0 };
const fetchOnly = sizes.get("openapi-fetch alone") ?? zero;
const main = sizes.get("everything (main entry)") ?? zero;
row("the main entry's own share", { min: main.min - fetchOnly.min, gzip: main.gzip - fetchOnly.gzip });
const script = sizeOf(readFileSync(`${sdk}dist/n2store-sdk.iife.js`));
row("dist/n2store-sdk.iife.js (<script>)", script);

let over = false;
for (const [name, size, budget] of [
  ["main entry", main, BUDGETS.main],
  ["./fetch entry", sizes.get("createFailoverFetch (./fetch entry)") ?? zero, BUDGETS.fetch],
  ["<script> build", script, BUDGETS.script],
] as const) {
  if (size.gzip > budget) {
    console.error(`${name}: over budget, ${size.gzip} B > ${budget} B min+gzip`);
    over = true;
  } else {
    console.log(`${name}: budget ${budget} B min+gzip, ok (${budget - size.gzip} B left)`);
  }
}
if (over) {
  process.exit(1);
}
