/** Every file of generated/ from the spec's text, and how generated/ compares with them. */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import openapiTS, { astToString } from "openapi-typescript";
import { parse as parseYaml } from "yaml";
import { operationsModule } from "./emit-operations.js";
import { policyModule } from "./emit-policy.js";
import { redocHtml } from "./emit-redoc.js";
import { validatorModules } from "./emit-validators.js";
import { isObject, type JsonObject, readErrorCodes, readOperations } from "./spec.js";
import { BANNER } from "./text.js";

/** Generates every file of generated/ from the spec's text; keys are paths relative to generated/. */
export async function generate(specText: string): Promise<Map<string, string>> {
  const spec = parseYaml(specText) as JsonObject;
  if (!isObject(spec) || typeof spec.openapi !== "string" || !spec.openapi.startsWith("3.1")) {
    throw new Error("openapi.yaml must be an OpenAPI 3.1 document");
  }
  const rows = readOperations(spec);
  const errorCodes = readErrorCodes(spec);

  // Request bodies: a property with a default is still optional for the caller.
  const ast = await openapiTS(structuredClone(spec) as never, {
    defaultNonNullable: false,
    silent: true,
  });
  const types = astToString(ast);
  const require = createRequire(import.meta.url);
  const redocVersion = (require("redoc/package.json") as { version: string }).version;

  const files = new Map<string, string>();
  files.set("openapi.d.ts", `${BANNER}${types}`);
  files.set("operations.ts", operationsModule(spec, rows, errorCodes));
  for (const [name, text] of Object.entries(validatorModules(spec, rows))) {
    files.set(name, text);
  }
  files.set("policy.ts", policyModule(rows));
  files.set("openapi.json", `${JSON.stringify(spec, null, 2)}\n`);
  files.set("redoc.html", redocHtml(spec, rows, redocVersion));
  return files;
}

/** Files of generated/ that codegen owns (everything but package.json and tsconfig.json). */
async function listOwned(outDir: string): Promise<string[]> {
  const keep = new Set(["package.json", "tsconfig.json"]);
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
      } else {
        const rel = relative(outDir, full);
        if (!keep.has(rel)) {
          found.push(rel);
        }
      }
    }
  }
  await walk(outDir);
  return found.sort();
}

/** Compares generated files with `outDir`; returns the stale ones (missing, different or extra). */
export async function staleFiles(files: Map<string, string>, outDir: string): Promise<string[]> {
  const stale: string[] = [];
  for (const [name, text] of files) {
    const current = await readFile(join(outDir, name), "utf8").catch(() => null);
    if (current !== text) {
      stale.push(current === null ? `${name} (missing)` : name);
    }
  }
  for (const name of await listOwned(outDir)) {
    if (!files.has(name)) {
      stale.push(`${name} (not generated from the spec)`);
    }
  }
  return stale;
}

export async function writeAll(files: Map<string, string>, outDir: string): Promise<void> {
  for (const name of await listOwned(outDir)) {
    if (!files.has(name)) {
      await rm(join(outDir, name));
    }
  }
  for (const [name, text] of files) {
    const target = join(outDir, name);
    await mkdir(dirname(target), { recursive: true });
    const current = await readFile(target, "utf8").catch(() => null);
    if (current !== text) {
      await writeFile(target, text);
    }
  }
}
