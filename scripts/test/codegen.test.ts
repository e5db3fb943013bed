import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { OperationFlag } from "@n2store/generated/policy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { OPERATION_FLAG, operationFlags, policyModule } from "../codegen/emit-policy.js";
import { generate, staleFiles } from "../codegen/index.js";
import type { OperationRow } from "../codegen/spec.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SPEC = join(ROOT, "openapi.yaml");

/** The parts of a spec the Redoc test reads. */
interface Spec {
  paths: Record<
    string,
    Record<
      string,
      {
        description?: string;
        "x-runtimes"?: string[];
        "x-idempotent"?: boolean;
        "x-badges"?: { name: string; color: string }[];
      }
    >
  >;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Runs the real CLI, as `npm run codegen -- ...` would. */
function codegen(...args: string[]) {
  const run = spawnSync(
    process.execPath,
    ["--import", "tsx", join(ROOT, "scripts/codegen/cli.ts"), ...args],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

// Codegen compiles every validator with Ajv: seconds on a quiet machine, far more on a loaded CI one.
describe("codegen", { timeout: 60_000 }, () => {
  let specText: string;
  let work: string;

  beforeAll(async () => {
    specText = await readFile(SPEC, "utf8");
    work = await mkdtemp(join(tmpdir(), "n2store-codegen-"));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("is deterministic: the same spec gives byte-identical files", async () => {
    const [first, second] = await Promise.all([generate(specText), generate(specText)]);
    expect([...first.keys()]).toEqual([...second.keys()]);
    for (const [name, text] of first) {
      expect(second.get(name), name).toBe(text);
    }
  });

  it("finds the committed generated/ fresh", async () => {
    expect(await staleFiles(await generate(specText), join(ROOT, "generated"))).toEqual([]);
  });

  it("--check fails and names the stale files when a copy of the spec changes", async () => {
    const out = join(work, "generated");
    await cp(join(ROOT, "generated"), out, { recursive: true });
    const changed = join(work, "openapi.yaml");
    await writeFile(changed, specText.replace("operationId: getServerTime", "operationId: getServerClock"));

    expect(codegen("--spec", SPEC, "--out", out, "--check").status).toBe(0);
    const stale = codegen("--spec", changed, "--out", out, "--check");
    expect(stale.status).toBe(1);
    expect(stale.output).toContain("generated/ is stale");
    for (const file of [
      "operations.ts",
      "openapi.d.ts",
      "openapi.json",
      "redoc.html",
      "validators/index.js",
    ]) {
      expect(stale.output).toContain(file);
    }

    // Regenerating from the changed spec makes the check pass against it again.
    expect(codegen("--spec", changed, "--out", out).status).toBe(0);
    expect(codegen("--spec", changed, "--out", out, "--check").status).toBe(0);
  }, 60_000);

  it("--check notices a hand edit and a file that codegen does not write", async () => {
    const out = join(work, "edited");
    await cp(join(ROOT, "generated"), out, { recursive: true });
    await writeFile(join(out, "policy.ts"), `${await readFile(join(out, "policy.ts"), "utf8")}// tweak\n`);
    await writeFile(join(out, "extra.ts"), "export {};\n");
    const result = codegen("--spec", SPEC, "--out", out, "--check");
    expect(result.status).toBe(1);
    expect(result.output).toContain("policy.ts");
    expect(result.output).toContain("extra.ts (not generated from the spec)");
  }, 30_000);

  it("maps catch-all parameters to Fastify's * and itty-router's :path+", async () => {
    const files = await generate(specText);
    const operations = files.get("operations.ts") ?? "";
    expect(operations).toContain('fastifyPath: "/api/rest/*"');
    expect(operations).toContain('ittyPath: "/api/rest/:path+"');
    expect(operations).toContain('fastifyPath: "/api/customers/:id"');
    expect(files.get("policy.ts")).toContain('"/api/pancake-direct/{path}"');
  });

  it("says on the Redoc page, per operation, which runtimes serve it and whether it is idempotent", async () => {
    const files = await generate(specText);
    const html = files.get("redoc.html") ?? "";
    const embedded = /Redoc\.init\((\{.*\}), \{ expandResponses/.exec(html)?.[1];
    expect(embedded, "the spec embedded in redoc.html").toBeDefined();
    const rendered = JSON.parse((embedded ?? "").replaceAll("<\\/", "</")) as Spec;
    const written = parseYaml(specText) as Spec;

    let checked = 0;
    for (const [path, item] of Object.entries(written.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!Array.isArray(op["x-runtimes"])) {
          continue;
        }
        const where = `${method.toUpperCase()} ${path}`;
        const shown = rendered.paths[path]?.[method];
        const runtimes = op["x-runtimes"];
        const served =
          runtimes.length === 2
            ? "**Served by** the edge Worker and the Node server."
            : "**Served by** the Node server only (the edge Worker answers `501 NOT_SERVED_BY_RUNTIME`).";
        const idempotency = op["x-idempotent"] ? "**Idempotent**:" : "**Not idempotent**:";
        // The line opens the description; the spec's own text, where it has one, follows unchanged.
        const line = new RegExp(`^${escapeRegExp(`${served} ${idempotency}`)}[^\\n]*`);
        expect(shown?.description, where).toMatch(line);
        expect(shown?.description?.replace(line, ""), where).toBe(
          op.description === undefined ? "" : `\n\n${op.description}`,
        );
        expect(
          shown?.["x-badges"]?.map((badge) => badge.name),
          where,
        ).toEqual(runtimes);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(50);
    // Only the page's copy: the contract as written is served, downloaded from the page and read unchanged.
    expect(JSON.parse(files.get("openapi.json") ?? "")).toEqual(written);
    expect(html).toContain('downloadDefinitionUrl: "/openapi.json"');
    expect(specText).not.toContain("x-badges");
  });

  it("validates the TPOS pass-throughs' headers loosely: what the shop's pages send passes", async () => {
    const { validators } = await import("@n2store/generated/validators");
    const pages = {
      authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
      tposappversion: "6.5.14.1",
      "feature-version": "2",
      "x-tpos-lang": "vi",
      "if-match": 'W/"AAAAAAAVsqY="',
      "if-none-match": '"abc", W/"def"',
      "if-modified-since": "Wed, 25 Nov 2026 14:02:37 GMT",
      "if-unmodified-since": "Wed, 25 Nov 2026 14:02:37 GMT",
    };
    for (const id of [
      "tposRestGet",
      "tposRestPost",
      "tposODataGet",
      "tposODataPatch",
      "tposApiGet",
      "tposApiPost",
    ] as const) {
      const headers = validators[id].headers;
      expect(headers?.({ ...pages }), id).toBe(true);
      expect(headers?.({ authorization: "" }), id).toBe(true);
      // Only what an HTTP header cannot carry as printable ASCII is refused (400 in the pipeline).
      expect(headers?.({ ...pages, "if-match": 'W/"café"' }), id).toBe(false);
    }
  });

  it("writes validators without eval or new Function", async () => {
    const files = await generate(specText);
    for (const [name, text] of files) {
      if (name.startsWith("validators/")) {
        expect(text, name).not.toMatch(/\beval\(|new Function\(|\brequire\(/);
      }
    }
  });
});

describe("policyModule", () => {
  /** An operation row with only what the policy table reads. */
  const row = (
    method: string,
    path: string,
    runtimes: ("edge" | "node")[],
    idempotent: boolean,
    acceptsIdempotencyKey: boolean,
  ) =>
    ({
      operationId: `${method} ${path}`,
      method,
      path,
      runtimes,
      idempotent,
      acceptsIdempotencyKey,
      catchAll: path.endsWith("{path}") ? "path" : null,
    }) as OperationRow;

  it("writes one hex digit per method, each the sum of the operation's flags, trailing zeros dropped", () => {
    const text = policyModule([
      row("GET", "/a", ["edge"], true, false),
      row("PATCH", "/a", ["node"], false, true),
      row("POST", "/b/{path}", ["edge", "node"], false, true),
    ]);
    // GET 1|4, POST -, PUT -, PATCH 2|8; then POST 1|2|8 on the catch-all.
    expect(text).toContain('"/a": "500a",');
    expect(text).toContain('"/b/{path}": "0b",');
    expect(text).toContain('CATCH_ALL_PATHS: readonly string[] = ["/b/{path}"]');
  });

  it("names every flag in the OperationFlag enum the SDK imports, with the values it computes with", () => {
    const text = policyModule([]);
    for (const [name, value] of Object.entries(OPERATION_FLAG)) {
      expect(text).toMatch(new RegExp(`/\\*\\* [^*]+ \\*/\\n  ${name} = ${value},`));
    }
    // The committed module is what the SDK compiles against.
    expect({ ...OperationFlag }).toMatchObject(OPERATION_FLAG);
    expect(
      operationFlags({ runtimes: ["edge", "node"], idempotent: true, acceptsIdempotencyKey: false }),
    ).toBe(OperationFlag.Edge | OperationFlag.Node | OperationFlag.Idempotent);
  });

  it("refuses a method the table has no digit for", () => {
    expect(() => policyModule([row("OPTIONS", "/a", ["edge"], true, false)])).toThrow(
      /OPTIONS \/a: the SDK's policy table has no digit for OPTIONS/,
    );
  });
});
