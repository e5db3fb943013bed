import {
  type OperationId,
  type OperationInput,
  operations,
  type PassthroughResult,
  type RawBody,
} from "@n2store/generated";
import type { SharedDeps } from "../deps.js";
import { ApiError, routeNotFound } from "../errors.js";
import { callUpstream, passthroughResult, UNTRUSTED_CONTENT_HEADERS } from "../upstream.js";

/** The largest body a pass-through returns (TPOS exports can be large). */
const PASSTHROUGH_MAX_BYTES = 100 * 1024 * 1024;

// RFC 3986 pchar: unreserved, sub-delims, ":" and "@" stay as they are; everything else is escaped.
const PCHAR = /[A-Za-z0-9\-._~!$&'()*+,;=:@]/;

// RFC 3986 pchar: unreserved, sub-delims, ":" and "@" may stay as they are.
const SAFE_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]*$/;
const encoder = new TextEncoder();

function encodeSegment(segment: string): string {
  if (SAFE_SEGMENT.test(segment)) {
    return segment;
  }
  let out = "";
  for (const char of segment) {
    out += PCHAR.test(char)
      ? char
      : [...encoder.encode(char)]
          .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`)
          .join("");
  }
  return out;
}

function badPath(message: string): ApiError {
  return new ApiError("VALIDATION_FAILED", `path: ${message}`, {
    details: [{ path: ["path", "path"], message }],
    nothingSent: true,
  });
}

/**
 * Re-encodes a decoded catch-all path for the upstream URL, one segment at a time, keeping the
 * characters a path segment may carry (so OData's `Set(1)` and `$metadata` arrive as written).
 * Empty, `.` and `..` segments are refused: they would let a caller climb out of the upstream prefix.
 * So are `;` (a path parameter to Tomcat and others: `..;/` climbs out) and `\` (a separator to IIS,
 * which TPOS runs on), in any spelling, since the path arrives decoded.
 */
export function encodeCatchAll(path: string): string {
  const segments = path.split("/");
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") {
      throw badPath("must not contain empty, '.' or '..' segments");
    }
    if (segment.includes(";") || segment.includes("\\")) {
      throw badPath("must not contain ';' or '\\'");
    }
  }
  return segments.map(encodeSegment).join("/");
}

/** The query string without the named parameters, every other pair kept byte for byte. */
export function withoutParams(rawQuery: string, names: ReadonlySet<string>): string {
  if (rawQuery === "" || names.size === 0) {
    return rawQuery;
  }
  return rawQuery
    .split("&")
    .filter((pair) => {
      const name = pair.split("=", 1)[0] ?? "";
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replaceAll("+", " "));
      } catch {
        // A malformed escape is not one of our names; keep the pair.
      }
      return !names.has(decoded);
    })
    .join("&");
}

/**
 * The upstream URL: base + prefix + the re-encoded path + the query; it never leaves the prefix.
 * Parsed once: this runs on every pass-through request.
 */
export function targetUrl(base: URL, prefix: string, path: string, rawQuery: string): URL {
  const basePath = base.pathname.replace(/\/$/, "");
  const url = new URL(
    `${base.origin}${basePath}${prefix}${encodeCatchAll(path)}${rawQuery === "" ? "" : `?${rawQuery}`}`,
  );
  if (url.origin !== base.origin || !url.pathname.startsWith(`${basePath}${prefix}`)) {
    throw new ApiError("VALIDATION_FAILED", "path: leaves the upstream's prefix", { nothingSent: true });
  }
  return url;
}

/** Copies the named request headers that are present. */
export function pick(
  headers: Readonly<Record<string, string>>,
  names: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (value !== undefined && value !== "") {
      out[name] = value;
    }
  }
  return out;
}

/** What one pass-through family forwards. */
interface Family {
  readonly service: string;
  /** The upstream URL for this request. */
  target(input: PassthroughInput, deps: SharedDeps): URL;
  /** The upstream request headers for this request. */
  headers(input: PassthroughInput, deps: SharedDeps): Record<string, string>;
  /** Runs on the upstream response (TPOS announces its app version there). */
  onResponse?(headers: Readonly<Record<string, string>>, deps: SharedDeps): void;
  /** Refuses a request before anything is sent (throws an ApiError). */
  admit?(method: string, input: PassthroughInput): void;
}

type PassthroughInput = Pick<OperationInput<OperationId>, "rawQuery" | "rawHeaders"> & {
  readonly path: { readonly path: string };
  readonly body?: RawBody | Uint8Array | null | undefined;
};

/** Sends one pass-through request: the caller's method, the family's URL and headers, the body streamed. */
async function forward(
  family: Family,
  method: string,
  input: PassthroughInput,
  deps: SharedDeps,
): Promise<PassthroughResult> {
  family.admit?.(method, input);
  const body = method === "GET" || method === "DELETE" ? null : (input.body ?? null);
  const headers = family.headers(input, deps);
  const contentType = input.rawHeaders["content-type"];
  if (body !== null && contentType !== undefined) {
    headers["content-type"] = contentType;
  }
  const response = await callUpstream(
    deps.upstream,
    {
      url: family.target(input, deps),
      method,
      headers,
      body,
      timeoutMs: deps.config.upstreamTimeoutMs,
      maxBodyBytes: PASSTHROUGH_MAX_BYTES,
      guarded: false,
      ...(deps.signal ? { signal: deps.signal } : {}),
    },
    family.service,
  );
  family.onResponse?.(response.headers, deps);
  // An upstream's HTML (a TPOS error page, a bill) must not run as a page of the gateway's origin.
  return passthroughResult(response, UNTRUSTED_CONTENT_HEADERS);
}

/** A pass-through handler, as every method of every family has it. */
type PassthroughHandler = (input: PassthroughInput, deps: SharedDeps) => Promise<PassthroughResult>;

/** The five handlers of one pass-through family, by method; the handler table names each operation. */
export interface PassthroughHandlers {
  readonly get: PassthroughHandler;
  readonly post: PassthroughHandler;
  readonly put: PassthroughHandler;
  readonly patch: PassthroughHandler;
  readonly delete: PassthroughHandler;
}

/** The five handlers (GET, POST, PUT, PATCH, DELETE) of one pass-through family. */
function family(spec: Family): PassthroughHandlers {
  const by =
    (method: string): PassthroughHandler =>
    (input, deps) =>
      forward(spec, method, input, deps);
  return { get: by("GET"), post: by("POST"), put: by("PUT"), patch: by("PATCH"), delete: by("DELETE") };
}

// Request headers a TPOS call may carry from the browser; everything else (cookies, Host, CF-*,
// sec-fetch-*) is left out, since TPOS answers 400 to raw browser headers.
const TPOS_HEADERS = [
  "authorization",
  "accept",
  "accept-language",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "tposappversion",
  "x-tpos-lang",
  "feature-version",
];

function tposHeaders(input: PassthroughInput, deps: SharedDeps): Record<string, string> {
  const origin = deps.config.tposBaseUrl.origin;
  return {
    accept: "*/*",
    tposappversion: deps.tposAppVersion.value,
    ...pick(input.rawHeaders, TPOS_HEADERS),
    origin,
    referer: `${origin}/`,
  };
}

const tposFamily = (prefix: string): Family => ({
  service: "TPOS",
  target: (input, deps) => targetUrl(deps.config.tposBaseUrl, prefix, input.path.path, input.rawQuery),
  headers: tposHeaders,
  onResponse: (headers, deps) => deps.tposAppVersion.learn(headers.tposappversion),
});

/** `/api/rest/{path}` -> `TPOS_BASE_URL/rest/{path}`. */
export const tposRest = family(tposFamily("/rest/"));
/** `/api/odata/{path}` -> `TPOS_BASE_URL/odata/{path}`. */
export const tposOData = family(tposFamily("/odata/"));

/**
 * The first path segments under `/api/` that this gateway's own operations use (`token`, `rest`,
 * `customers`, ...), from the operation table: the TPOS catch-all never sends those to TPOS, so a
 * method one of them lacks (`GET /api/token`) is our 404, as before the catch-all existed.
 */
export const OWN_API_SEGMENTS: ReadonlySet<string> = new Set(
  Object.values(operations)
    .map((operation) => /^\/api\/([^/{]+)/.exec(operation.path)?.[1]?.toLowerCase())
    .filter((segment): segment is string => segment !== undefined),
);

/**
 * `/api/{path}` -> `TPOS_BASE_URL/{path}`: whatever no other operation answers under `/api/`, as the
 * original's catch-all (bill printing, the Excel exports), with the TPOS header policy.
 */
export const tposApi = family({
  ...tposFamily("/"),
  admit: (method, input) => {
    const first = input.path.path.split("/", 1)[0]?.toLowerCase() ?? "";
    if (OWN_API_SEGMENTS.has(first)) {
      throw routeNotFound(method, `/api/${input.path.path}`);
    }
  },
});

const PANCAKE_HEADERS = ["accept", "accept-language"];

/**
 * The headers of a call to pancake.vn's web API: the caller's Accept headers, Pancake's own Origin,
 * a Referer, and the user token as the `jwt` cookie its web app sends (the spec holds the token to
 * JWT characters, so it cannot add another cookie).
 */
function pancakeHeaders(
  input: PassthroughInput,
  deps: SharedDeps,
  referer: string,
  jwt: string | null,
): Record<string, string> {
  const headers: Record<string, string> = {
    accept: "application/json, text/plain, */*",
    ...pick(input.rawHeaders, PANCAKE_HEADERS),
    origin: deps.config.pancakeBaseUrl.origin,
    referer,
  };
  if (jwt !== null && jwt !== "") {
    headers.cookie = `jwt=${jwt}; locale=vi`;
  }
  return headers;
}
const PANCAKE_DIRECT_OWN_PARAMS = new Set(["jwt", "page_id"]);

/**
 * `/api/pancake-direct/{path}` -> `PANCAKE_BASE_URL/api/v1/{path}`: the caller's `?jwt=` becomes the
 * `jwt` cookie Pancake's web API reads, and is not forwarded in the query (nor is `page_id`).
 */
export const pancakeDirect = family({
  service: "Pancake",
  target: (input, deps) =>
    targetUrl(
      deps.config.pancakeBaseUrl,
      "/api/v1/",
      input.path.path,
      withoutParams(input.rawQuery, PANCAKE_DIRECT_OWN_PARAMS),
    ),
  headers: (input, deps) =>
    pancakeHeaders(input, deps, deps.config.pancakeReferer, new URLSearchParams(input.rawQuery).get("jwt")),
});

/**
 * `/api/pancake/{path}` -> `PANCAKE_BASE_URL/api/v1/{path}` with the query as given: the caller's
 * `access_token` stays in the query and is also sent as the `jwt` cookie (what pancake.vn's own web
 * app sends), with the multi-page inbox as Referer, as the original's generic route did.
 */
export const pancakeGeneric = family({
  service: "Pancake",
  target: (input, deps) => targetUrl(deps.config.pancakeBaseUrl, "/api/v1/", input.path.path, input.rawQuery),
  headers: (input, deps) =>
    pancakeHeaders(
      input,
      deps,
      deps.config.pancakeGenericReferer,
      new URLSearchParams(input.rawQuery).get("access_token"),
    ),
});

/** `/api/pancake-official/{path}` -> `PANCAKE_PUBLIC_BASE_URL/api/public_api/v1/{path}`, query unchanged. */
export const pancakeOfficial = family({
  service: "Pancake",
  target: (input, deps) =>
    targetUrl(deps.config.pancakePublicBaseUrl, "/api/public_api/v1/", input.path.path, input.rawQuery),
  headers: (input, deps) => ({
    accept: "application/json, text/plain, */*",
    ...pick(input.rawHeaders, PANCAKE_HEADERS),
    origin: deps.config.pancakePublicBaseUrl.origin,
    referer: `${deps.config.pancakePublicBaseUrl.origin}/`,
  }),
});
