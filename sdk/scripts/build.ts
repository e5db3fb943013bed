// Builds dist/: the ESM entries (index.js and fetch.js; openapi-fetch stays external, the spec's
// operation table is inlined), the one-file script for pages without a bundler (n2store-sdk.iife.js:
// everything, openapi-fetch included, as the global N2StoreSDK), and self-contained declarations
// (the spec's types are copied in, so nothing names @n2store/generated).
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const sdk = fileURLToPath(new URL("..", import.meta.url));
const dist = `${sdk}dist`;
const require = createRequire(import.meta.url);

rmSync(dist, { recursive: true, force: true });
await build({
  absWorkingDir: sdk,
  // Two bundles, each with its own copy of the engine. Code splitting would share one, but it puts
  // the engine before openapi-fetch in every bundle built from dist, which costs the main entry
  // about 25 B of gzip (order, not code); its budget has no room for that.
  entryPoints: ["src/index.ts", "src/fetch.ts"],
  outdir: "dist",
  bundle: true,
  format: "esm",
  // Web APIs only: the same file runs in browsers, Node 20 and Workers.
  platform: "neutral",
  target: "es2022",
  external: ["openapi-fetch"],
  legalComments: "none",
  logLevel: "warning",
});
await build({
  absWorkingDir: sdk,
  stdin: {
    contents: 'export * from "./src/index.ts"; export { createFailoverFetch } from "./src/fetch.ts";',
    resolveDir: sdk,
    loader: "ts",
  },
  outfile: "dist/n2store-sdk.iife.js",
  bundle: true,
  format: "iife",
  globalName: "N2StoreSDK",
  // A classic <script>: minified, as nothing downstream bundles it again.
  minify: true,
  platform: "browser",
  target: "es2022",
  legalComments: "none",
  logLevel: "warning",
});
execFileSync(process.execPath, [require.resolve("typescript/lib/tsc.js"), "-p", "tsconfig.build.json"], {
  cwd: sdk,
  stdio: "inherit",
});
copyFileSync(require.resolve("@n2store/generated/openapi"), `${dist}/spec.d.ts`);

// Every file, those of subfolders (the policies' declarations in dist/policy/) included.
const files = readdirSync(dist, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => relative(dist, join(entry.parentPath, entry.name)).replaceAll("\\", "/"))
  .sort();
for (const file of files) {
  if (readFileSync(`${dist}/${file}`, "utf8").includes("@n2store/generated")) {
    throw new Error(
      `dist/${file} still names @n2store/generated: the published package would not resolve it`,
    );
  }
}
console.log(`built ${files.join(", ")}`);
