import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliDecompress } from "node:zlib";

const decompress = promisify(brotliDecompress);

/** What scripts/pglite-template.mjs records beside the template. */
export interface TemplateInfo {
  /** The @electric-sql/pglite version whose initdb made it. */
  readonly pglite: string;
  readonly postgres: string;
  readonly tarBytes: number;
}

/**
 * The folder of the template: `server-node/assets`, two levels above this file in the sources
 * (src/db/) and one above the bundle (dist/main.js), which is how both `npm start` and the tests
 * find it.
 */
export function templateFolder(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, "../assets"), resolve(here, "../../assets")]) {
    if (existsSync(resolve(candidate, "pglite-template.json"))) {
      return candidate;
    }
  }
  return null;
}

/** The installed @electric-sql/pglite version (its package.json is not exported: found from its entry). */
export function installedPgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@electric-sql/pglite");
  return (
    JSON.parse(readFileSync(resolve(dirname(entry), "..", "package.json"), "utf8")) as { version: string }
  ).version;
}

/** The template's record, or null when there is none. */
export function templateInfo(): TemplateInfo | null {
  const folder = templateFolder();
  return folder === null
    ? null
    : (JSON.parse(readFileSync(resolve(folder, "pglite-template.json"), "utf8")) as TemplateInfo);
}

/**
 * An empty data directory made by the installed PGlite's initdb, as a tar, or why there is none: no
 * template, or one made by another PGlite version (whose files this one may not read; the server
 * then runs initdb, as PGlite does by itself).
 */
export async function loadTemplate(): Promise<{ tar: Buffer } | { missing: string }> {
  const folder = templateFolder();
  const info = templateInfo();
  if (folder === null || info === null) {
    return { missing: "there is no PGlite template (server-node/assets/pglite-template.tar.br)" };
  }
  const installed = installedPgliteVersion();
  if (info.pglite !== installed) {
    return {
      missing: `the PGlite template was made by PGlite ${info.pglite}, not the installed ${installed}; run npm run pglite-template --workspace server-node`,
    };
  }
  return { tar: await decompress(await readFile(resolve(folder, "pglite-template.tar.br"))) };
}

function octal(block: Buffer, start: number, length: number): number {
  const text = block
    .toString("ascii", start, start + length)
    .replace(/\0.*$/s, "")
    .trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function text(block: Buffer, start: number, length: number): string {
  return block.toString("utf8", start, start + length).replace(/\0.*$/s, "");
}

/**
 * Writes the directories and files of a tar (as PGlite's dumpDataDir makes it: ustar, regular files
 * and directories, absolute names) under `target`. PGlite's own loadDataDir does the same through
 * its virtual file system, a file at a time, about three times slower than this on a new directory.
 */
export function extractTar(tar: Buffer, target: string): number {
  let files = 0;
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) {
      break;
    }
    const prefix = text(header, 345, 155);
    const name = (prefix === "" ? "" : `${prefix}/`) + text(header, 0, 100);
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const relative = name.replace(/^\/+/, "");
    const path = resolve(target, relative);
    if (relative === "" || relative.split("/").includes("..") || !path.startsWith(resolve(target))) {
      throw new Error(`the PGlite template holds an unexpected path: ${name}`);
    }
    offset += 512;
    if (type === "5") {
      mkdirSync(path, { recursive: true, mode: 0o700 });
    } else if (type === "0" || type === "\0") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, tar.subarray(offset, offset + size), { mode: 0o600 });
      files += 1;
    } else {
      throw new Error(`the PGlite template holds an entry of type ${JSON.stringify(type)}: ${name}`);
    }
    offset += Math.ceil(size / 512) * 512;
  }
  return files;
}

/**
 * Makes `dataDir` a copy of the template, whole or not at all: extracted beside it, then renamed
 * into place (an empty `dataDir` is replaced). False when `dataDir` holds something already.
 */
export function createFromTemplate(tar: Buffer, dataDir: string): boolean {
  if (existsSync(dataDir)) {
    if (readdirSync(dataDir).length > 0) {
      return false;
    }
    rmSync(dataDir, { recursive: true });
  }
  mkdirSync(dirname(dataDir), { recursive: true });
  const partial = `${dataDir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  try {
    extractTar(tar, partial);
    if (!existsSync(join(partial, "PG_VERSION"))) {
      throw new Error("the PGlite template has no PG_VERSION");
    }
    renameSync(partial, dataDir);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
  return true;
}
