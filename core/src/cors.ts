import type { Config } from "./config.js";

const ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/**
 * The cache and conditional-request headers a browser page sets: CORS lets a page send them, and
 * the proxy (`?headers=`) passes them to its target. One list, so the two cannot drift apart.
 */
export const CACHE_REQUEST_HEADERS = [
  "cache-control",
  "pragma",
  "if-none-match",
  "if-modified-since",
  "if-match",
  "if-unmodified-since",
] as const;
// What the shop's pages send (the original gateway's list), plus this gateway's own headers.
const ALLOWED_HEADERS = [
  "content-type",
  "authorization",
  "accept",
  "accept-language",
  ...CACHE_REQUEST_HEADERS,
  "if-range",
  "range",
  "tposappversion",
  "x-tpos-lang",
  "feature-version",
  "x-page-access-token",
  "x-auth-data",
  "x-user-id",
  "x-idempotency-key",
  "x-web2-token",
  "x-web2-zalo-owner",
  "x-api-key",
  "idempotency-key",
  "x-request-id",
].join(", ");
const EXPOSED_HEADERS = [
  "retry-after",
  "idempotent-replayed",
  "x-request-id",
  "content-disposition",
  "content-range",
  "accept-ranges",
  "tposappversion",
  "x-token-cache",
  "x-avatar-source",
].join(", ");

/**
 * The CORS headers of a response, the same on both runtimes. `CORS_ALLOWED_ORIGINS=*` allows any
 * origin without credentials; a list echoes an allowed origin (with `Vary: Origin`) and gives other
 * origins no Access-Control-Allow-Origin, so the browser blocks them.
 */
export function corsHeaders(origin: string | undefined, config: Config): Record<string, string> {
  if (config.corsAllowedOrigins === null) {
    return { "access-control-allow-origin": "*", "access-control-expose-headers": EXPOSED_HEADERS };
  }
  const headers: Record<string, string> = { vary: "Origin" };
  if (origin !== undefined && config.corsAllowedOrigins.includes(origin)) {
    headers["access-control-allow-origin"] = origin;
    headers["access-control-expose-headers"] = EXPOSED_HEADERS;
  }
  return headers;
}

/** The answer to a CORS preflight (OPTIONS with Access-Control-Request-Method): 204 with these headers. */
export function preflightHeaders(origin: string | undefined, config: Config): Record<string, string> {
  const headers = corsHeaders(origin, config);
  if (headers["access-control-allow-origin"] === undefined) {
    return headers;
  }
  return {
    ...headers,
    "access-control-allow-methods": ALLOWED_METHODS,
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": "86400",
  };
}
