/**
 * openapi.yaml -> generated/
 *
 *   npm run codegen              write generated/ from openapi.yaml
 *   npm run codegen -- --check   exit 1, naming the stale files, when generated/ does not match the spec
 *   npm run codegen -- --spec <file> --out <dir> [--check]
 *
 * What it writes (every source file opens with the "auto-generated" banner):
 *   openapi.d.ts        types from openapi-typescript (paths, components, operations)
 *   operations.ts       the operation table (OAS 3.1 §4.8.10 Operation Object + our x- vocabulary),
 *                       per-operation input/result types for handlers, and the error codes' statuses
 *   validators/*.js     request validators: Ajv standalone code (no eval/new Function at run time,
 *                       so the same module runs in Node and in workerd)
 *   policy.ts           the compact table the SDK needs (runtimes, idempotency, catch-all paths)
 *   openapi.json        the spec as JSON (served by the Node server, read by the contract tests)
 *   redoc.html          the Redoc page, loading Redoc from the Node server (no CDN); its copy of the
 *                       spec says on every operation where it is served and whether it is idempotent
 *
 * One module per output (emit-*.ts) over one reader of the spec (spec.ts); the route builders that
 * use the operation table are the servers' own code (server-node/src/routing.ts,
 * server-edge/src/routing.ts). Output is deterministic: the same spec gives byte-identical files.
 */
import { readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { generate, staleFiles, writeAll } from "./generate.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      check: { type: "boolean", default: false },
      spec: { type: "string" },
      out: { type: "string" },
    },
  });
  const specPath = resolve(values.spec ?? join(ROOT, "openapi.yaml"));
  const outDir = resolve(values.out ?? join(ROOT, "generated"));
  const files = await generate(await readFile(specPath, "utf8"));
  if (values.check) {
    const stale = await staleFiles(files, outDir);
    if (stale.length > 0) {
      console.error(`generated/ is stale; run \`npm run codegen\`. Stale files:\n  ${stale.join("\n  ")}`);
      return 1;
    }
    console.log(`generated/ matches ${relative(ROOT, specPath) || specPath} (${files.size} files).`);
    return 0;
  }
  await writeAll(files, outDir);
  console.log(
    `Wrote ${files.size} files to ${relative(ROOT, outDir) || outDir}/ from ${relative(ROOT, specPath)}.`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
