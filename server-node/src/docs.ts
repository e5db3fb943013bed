import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { NodeHandler } from "@n2store/core";

const require = createRequire(import.meta.url);

/**
 * The documents the Node server serves from its own files, read once at start: the spec and its
 * Redoc page from generated/, and the Redoc script (about 1 MB) from the installed `redoc` package.
 */
export async function loadDocuments(): Promise<{
  getOpenApiDocument: NodeHandler<"getOpenApiDocument">;
  getApiReference: NodeHandler<"getApiReference">;
  getApiReferenceScript: NodeHandler<"getApiReferenceScript">;
}> {
  const [json, html, script] = await Promise.all([
    readFile(require.resolve("@n2store/generated/openapi.json"), "utf8"),
    readFile(require.resolve("@n2store/generated/redoc.html"), "utf8"),
    readFile(require.resolve("redoc/bundles/redoc.standalone.js"), "utf8"),
  ]);
  const document = JSON.parse(json) as {
    openapi: string;
    info: Record<string, unknown>;
    paths: Record<string, unknown>;
  };
  return {
    getOpenApiDocument: async () => ({
      status: 200,
      headers: { "cache-control": "public, max-age=300" },
      body: document,
    }),
    getApiReference: async () => ({
      status: 200,
      raw: html,
      contentType: "text/html; charset=utf-8",
      headers: { "cache-control": "public, max-age=300" },
    }),
    getApiReferenceScript: async () => ({
      status: 200,
      raw: script,
      contentType: "application/javascript; charset=utf-8",
      headers: { "cache-control": "public, max-age=86400" },
    }),
  };
}
