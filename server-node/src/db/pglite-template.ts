import {
  closeSync,
  createReadStream,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve, sep } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliDecompress, createBrotliDecompress } from "node:zlib";

const decompress = promisify(brotliDecompress);

/** What scripts/pglite-template.mjs records beside the template. */
export interface TemplateInfo {
  /** The @electric-sql/pglite version whose initdb made it. */
  readonly pglite: string;
  readonly postgres: string;
  /** The buffer cache its postgresql.conf sets (initdb's 128 MB took most of every PGlite start). */
  readonly sharedBuffers: string;
  /** The migrations whose schema it holds (the server applies newer ones when it starts). */
  readonly migrations: readonly string[];
  readonly tarBytes: number;
}

/**
 * The folder of the template: `server-node/assets`, two levels above this file in the sources
 * (src/db/) and one above the bundle (dist/main.js), which is how both `npm start` and the tests
 * find it.
 */
function templateFolder(): string | null {
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
 * The template of an empty data directory made by the installed PGlite's initdb, or why there is
 * none: no template, or one made by another PGlite version (whose files this one may not read; the
 * server then runs initdb, as PGlite does by itself).
 */
function usableTemplate(): { file: string } | { missing: string } {
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
  return { file: resolve(folder, "pglite-template.tar.br") };
}

/** Decompressed in 256 KB pieces, not zlib's 16 KB: a sixteenth of the calls, a third less time here. */
const CHUNK = 256 * 1024;

/** The template as one tar in memory, for PGlite's `loadDataDir` (in-memory databases). */
export async function loadTemplate(): Promise<{ tar: Buffer } | { missing: string }> {
  const template = usableTemplate();
  return "missing" in template
    ? template
    : { tar: await decompress(await readFile(template.file), { chunkSize: CHUNK }) };
}

function octal(block: Buffer, start: number, length: number): number {
  const digits = block
    .toString("ascii", start, start + length)
    .replace(/\0.*$/s, "")
    .trim();
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

function text(block: Buffer, start: number, length: number): string {
  return block.toString("utf8", start, start + length).replace(/\0.*$/s, "");
}

/** Whether `bytes` are all zero (a page PostgreSQL has not used yet). */
function allZero(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) {
      return false;
    }
  }
  return true;
}

/**
 * A stream that writes the directories and files of a tar under `target` as the bytes arrive (as
 * PGlite's dumpDataDir makes it: ustar, regular files and directories, absolute names). Nothing is
 * held whole in memory: a 40 MB data directory goes from the decompressor to the disk in chunks.
 * Files are sized first and only their non-zero parts written (almost half of a new data directory
 * is zeros: unused pages, the preallocated WAL segment), so they are sparse where the file system
 * allows. PGlite's own loadDataDir does this through its virtual file system, a file at a time,
 * several times slower on a new directory.
 */
function tarExtractor(target: string): Writable {
  const root = resolve(target);
  const made = new Set<string>();
  const directory = (path: string) => {
    if (!made.has(path)) {
      mkdirSync(path, { recursive: true, mode: 0o700 });
      made.add(path);
    }
  };
  let pending = Buffer.alloc(0);
  /** The file being written, where the next bytes go, and how many it still expects. */
  let file: { fd: number; position: number; remaining: number } | null = null;
  /** The padding to the next block. */
  let skip = 0;
  const entry = (header: Buffer): void => {
    const prefix = text(header, 345, 155);
    const name = (prefix === "" ? "" : `${prefix}/`) + text(header, 0, 100);
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const relative = name.replace(/^\/+/, "");
    const path = resolve(root, relative);
    if (relative === "" || relative.split("/").includes("..") || !path.startsWith(root + sep)) {
      throw new Error(`the PGlite template holds an unexpected path: ${name}`);
    }
    if (type === "5") {
      directory(path);
      skip = Math.ceil(size / 512) * 512;
    } else if (type === "0" || type === "\0") {
      directory(dirname(path));
      const fd = openSync(path, "w", 0o600);
      ftruncateSync(fd, size);
      file = { fd, position: 0, remaining: size };
      skip = Math.ceil(size / 512) * 512 - size;
      if (size === 0) {
        closeSync(fd);
        file = null;
      }
    } else {
      throw new Error(`the PGlite template holds an entry of type ${JSON.stringify(type)}: ${name}`);
    }
  };
  let ended = false;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        pending = Buffer.alloc(0);
        while (data.length > 0 && !ended) {
          if (file !== null) {
            const part = data.subarray(0, file.remaining);
            if (!allZero(part)) {
              writeSync(file.fd, part, 0, part.length, file.position);
            }
            file.position += part.length;
            file.remaining -= part.length;
            data = data.subarray(part.length);
            if (file.remaining === 0) {
              closeSync(file.fd);
              file = null;
            }
          } else if (skip > 0) {
            const skipped = Math.min(skip, data.length);
            skip -= skipped;
            data = data.subarray(skipped);
          } else if (data.length < 512) {
            pending = Buffer.from(data);
            break;
          } else {
            const header = data.subarray(0, 512);
            data = data.subarray(512);
            if (header.every((byte) => byte === 0)) {
              ended = true;
            } else {
              entry(header);
            }
          }
        }
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    final(callback) {
      callback(file === null ? null : new Error("the PGlite template ends in the middle of a file"));
    },
    destroy(error, callback) {
      if (file !== null) {
        closeSync(file.fd);
        file = null;
      }
      callback(error);
    },
  });
}

/**
 * Makes `dataDir` a copy of the template, whole or not at all: extracted beside it, then renamed
 * into place (an empty `dataDir` is replaced). False when `dataDir` holds something already.
 * `source` is the template by default (tests give their own tar).
 */
export async function createFromTemplate(
  dataDir: string,
  source: () => NodeJS.ReadableStream = () =>
    createReadStream((usableTemplate() as { file: string }).file, { highWaterMark: CHUNK }).pipe(
      createBrotliDecompress({ chunkSize: CHUNK }),
    ),
): Promise<boolean> {
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
    await pipeline(source(), tarExtractor(partial));
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

/** Why the template cannot be used, or null when it can. */
export function templateProblem(): string | null {
  const template = usableTemplate();
  return "missing" in template ? template.missing : null;
}
