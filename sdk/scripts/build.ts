// Builds dist/: one ESM bundle (openapi-fetch stays external, the spec's operation table is inlined)
// and self-contained declarations (the spec's types are copied in, so nothing names @n2store/generated).
import { execFileSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const sdk = fileURLToPath(new URL("..", import.meta.url));
const dist = `${sdk}dist`;
const require = createRequire(import.meta.url);

rmSync(dist, { recursive: true, force: true });
await build({
  absWorkingDir: sdk,
  entryPoints: ["src/index.ts"],
  outfile: "dist/index.js",
  bundle: true,
  format: "esm",
  // Web APIs only: the same file runs in browsers, Node 20 and Workers.
  platform: "neutral",
  target: "es2022",
  external: ["openapi-fetch"],
  legalComments: "none",
  logLevel: "warning",
});
execFileSync(process.execPath, [require.resolve("typescript/lib/tsc.js"), "-p", "tsconfig.build.json"], {
  cwd: sdk,
  stdio: "inherit",
});
copyFileSync(require.resolve("@n2store/generated/openapi"), `${dist}/spec.d.ts`);

for (const file of readdirSync(dist)) {
  if (readFileSync(`${dist}/${file}`, "utf8").includes("@n2store/generated")) {
    throw new Error(
      `dist/${file} still names @n2store/generated: the published package would not resolve it`,
    );
  }
}
console.log(`built ${readdirSync(dist).sort().join(", ")}`);
