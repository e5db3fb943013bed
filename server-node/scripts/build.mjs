// Bundles the Node server into dist/main.js for `npm start`: the workspace packages (core,
// generated) are compiled in, the npm dependencies stay external (PGlite loads its WebAssembly from
// its own folder). Production then runs plain JavaScript, without a TypeScript loader on the path of
// every request. Takes well under a second.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8"));
const external = Object.keys(pkg.dependencies).filter((name) => !name.startsWith("@n2store/"));

await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  // Dependencies and their subpaths (ajv/dist/runtime/..., redoc/bundles/...) load from node_modules.
  external: [
    ...external,
    ...external.map((name) => `${name}/*`),
    "ajv",
    "ajv/*",
    "ajv-formats",
    "ajv-formats/*",
  ],
  banner: { js: "// Built by server-node/scripts/build.mjs from src/; run `npm start` to rebuild." },
  logLevel: "warning",
});
