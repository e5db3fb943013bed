/**
 * `npm start` builds only when the build is stale: when dist/main.js is missing, or a file the last
 * build read (esbuild's metafile, kept in dist/build-inputs.json) changed or went away since.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { staleReason } from "../scripts/build.mjs";

describe("staleReason", () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const root of roots.splice(0)) {
      rmSync(root, { recursive: true, force: true });
    }
  });

  /** A server-node folder with one source and a build of it, the build a minute newer. */
  function builtRoot(): string {
    const root = mkdtempSync(join(tmpdir(), "n2store-build-"));
    roots.push(root);
    mkdirSync(join(root, "src"));
    mkdirSync(join(root, "dist"));
    writeFileSync(join(root, "src/main.ts"), "export {};\n");
    writeFileSync(join(root, "dist/main.js"), "export {};\n");
    writeFileSync(join(root, "dist/build-inputs.json"), JSON.stringify(["src/main.ts"]));
    const now = Date.now() / 1000;
    utimesSync(join(root, "src/main.ts"), now - 60, now - 60);
    return root;
  }

  it("is null when no source is newer than dist/main.js", () => {
    expect(staleReason(builtRoot())).toBeNull();
  });

  it("names the source that changed after the build", () => {
    const root = builtRoot();
    const later = Date.now() / 1000 + 60;
    utimesSync(join(root, "src/main.ts"), later, later);
    expect(staleReason(root)).toBe(`${join(root, "src/main.ts")} changed`);
  });

  it("rebuilds when a source the build read is gone", () => {
    const root = builtRoot();
    rmSync(join(root, "src/main.ts"));
    expect(staleReason(root)).toContain("src/main.ts");
  });

  it("rebuilds when there is no build, or no record of what it read", () => {
    const root = builtRoot();
    rmSync(join(root, "dist/build-inputs.json"));
    expect(staleReason(root)).toBe("dist/build-inputs.json is missing");
    rmSync(join(root, "dist/main.js"));
    expect(staleReason(root)).toBe("dist/main.js does not exist");
  });
});
