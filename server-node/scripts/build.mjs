// Bundles the Node server into dist/main.js for `npm start`: the workspace packages (core,
// generated) are compiled in, the npm dependencies stay external (PGlite loads its WebAssembly from
// its own folder). Production then runs plain JavaScript, without a TypeScript loader on the path of
// every request. Takes well under a second. `npm start` (scripts/start.mjs) calls buildIfStale, so it
// builds only when a source changed since the last build; `npm run build` always builds.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The server-node folder. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** What `npm start` runs. */
export const MAIN = resolve(ROOT, "dist/main.js");
/** Every file the last build read (esbuild's metafile), to tell whether the build is stale. */
const INPUTS = resolve(ROOT, "dist/build-inputs.json");
/**
 * Dependencies compiled into dist/main.js although they are npm packages: plain JavaScript made of
 * many small modules, whose resolution and loading one by one cost about 0.2 s of every start here
 * (kysely alone is some 300 ES modules). The others stay external: native code (sharp), WebAssembly
 * and data files found beside their code (PGlite, redoc), optional native parts (pg), and fastify with
 * its plugins, loaded as their authors ship them.
 */
const BUNDLED = new Set(["kysely", "undici", "prom-client"]);
/** Files that change the build without being bundled: this script and the list of external packages. */
const ALWAYS = [fileURLToPath(import.meta.url), resolve(ROOT, "package.json")];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * Why dist/main.js must be rebuilt, or null when it is up to date: it is missing, or a file the last
 * build read (a source of server-node, core or generated) is newer than it, or gone. A new source
 * file matters only once a file that imports it changes, which that check sees.
 */
export function staleReason(root = ROOT) {
  const main = resolve(root, "dist/main.js");
  const built = mtime(main);
  if (built === Number.POSITIVE_INFINITY) {
    return "dist/main.js does not exist";
  }
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(resolve(root, "dist/build-inputs.json"), "utf8"));
  } catch {
    return "dist/build-inputs.json is missing";
  }
  for (const input of [...inputs.map((path) => resolve(root, path)), ...(root === ROOT ? ALWAYS : [])]) {
    if (mtime(input) > built) {
      return `${input} changed`;
    }
  }
  return null;
}

/** Builds dist/main.js; the files appear whole (written aside, then renamed), main.js last. */
export async function buildServer() {
  const { build, stop } = await import("esbuild");
  const pkg = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8"));
  const external = Object.keys(pkg.dependencies).filter(
    (name) => !name.startsWith("@n2store/") && !BUNDLED.has(name),
  );
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: ["src/main.ts"],
      outfile: "dist/main.js",
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      sourcemap: true,
      // Positions only: the map of a bundle with its sources inside is megabytes to read at each start.
      sourcesContent: false,
      metafile: true,
      write: false,
      // Dependencies and their subpaths (ajv/dist/runtime/..., redoc/bundles/...) load from node_modules.
      external: [
        ...external,
        ...external.map((name) => `${name}/*`),
        "ajv",
        "ajv/*",
        "ajv-formats",
        "ajv-formats/*",
      ],
      banner: {
        js: [
          "// Built by server-node/scripts/build.mjs from src/; run `npm start` to rebuild.",
          // The bundled CommonJS packages (undici, prom-client) require Node's modules at run time.
          'import { createRequire as __n2storeCreateRequire } from "node:module";',
          "const require = __n2storeCreateRequire(import.meta.url);",
        ].join("\n"),
      },
      logLevel: "warning",
    });
    mkdirSync(resolve(ROOT, "dist"), { recursive: true });
    const write = (path, contents) => {
      const aside = `${path}.${process.pid}.tmp`;
      writeFileSync(aside, contents);
      renameSync(aside, path);
    };
    write(INPUTS, `${JSON.stringify(Object.keys(result.metafile.inputs).sort(), null, 1)}\n`);
    // main.js last: its time is what staleReason compares with.
    const last = result.outputFiles.filter((file) => file.path === MAIN);
    for (const file of [...result.outputFiles.filter((file) => file.path !== MAIN), ...last]) {
      write(file.path, file.contents);
    }
  } finally {
    // The esbuild service is a child process: do not keep it beside the server.
    await stop();
  }
}

/** Builds when the build is stale; returns why it built (and how long it took), or null. */
export async function buildIfStale() {
  const reason = staleReason();
  if (reason === null) {
    return null;
  }
  const started = performance.now();
  await buildServer();
  return { reason, ms: Math.round(performance.now() - started) };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildServer();
}
