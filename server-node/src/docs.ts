import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { NodeHandler } from "@n2store/core";

const require = createRequire(import.meta.url);

/** Where Redoc's standalone script is installed (served at /docs/redoc.standalone.js). */
export const REDOC_SCRIPT = require.resolve("redoc/bundles/redoc.standalone.js");

/** The two documents the Node server serves from generated/: the spec and its Redoc page. */
export async function loadDocuments(): Promise<{
  getOpenApiDocument: NodeHandler<"getOpenApiDocument">;
  getApiReference: NodeHandler<"getApiReference">;
}> {
  const [json, html] = await Promise.all([
    readFile(require.resolve("@n2store/generated/openapi.json"), "utf8"),
    readFile(require.resolve("@n2store/generated/redoc.html"), "utf8"),
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
  };
}
