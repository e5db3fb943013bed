import type { OperationId, OperationInput, PassthroughResult, RawBody, RawResult } from "@n2store/generated";
import { originRule } from "../config.js";
import { CACHE_REQUEST_HEADERS } from "../cors.js";
import type { SharedDeps, SharedHandler } from "../deps.js";
import { ApiError, isApiError } from "../errors.js";
import { mediaType } from "../http.js";
import {
  type ImageResizer,
  isImageResizeFailure,
  type ResizedImage,
  type ResizeOptions,
} from "../ports/image-resizer.js";
import { isUpstreamFailure, type UpstreamResponse } from "../ports/upstream.js";
import { checkTargetUrl } from "../ssrf/url-policy.js";
import {
  fetchGuarded,
  joinUrl,
  passBackHeaders,
  passthroughResult,
  UNTRUSTED_CONTENT_HEADERS,
  upstreamError,
} from "../upstream.js";

/** `?headers=` names sent to the target as given: what the shop's pages set (orders-report address look-ups). */
const PROXY_HEADERS_SENT = new Set([
  "origin",
  "referer",
  "user-agent",
  "content-type",
  "content-language",
  ...CACHE_REQUEST_HEADERS,
  "tposappversion",
  "feature-version",
]);
/** Prefixes of `?headers=` names that are sent: `Accept-*`, fetch metadata and client hints, `X-*`. */
const PROXY_PREFIXES_SENT = ["accept-", "sec-", "x-"];

/**
 * `?headers=` names dropped without an error: the target's own Host is sent, the connection's
 * framing is the gateway's (hop-by-hop headers, RFC 9110 §7.6.1), and no header may claim a client
 * address for the caller.
 */
const PROXY_HEADERS_DROPPED = new Set([
  "host",
  "content-length",
  "expect",
  "connection",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
  "trailer",
  "forwarded",
  "via",
  "x-real-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  "x-originating-ip",
  "true-client-ip",
]);
const PROXY_PREFIXES_DROPPED = ["proxy-", "x-forwarded-", "cf-"];

/** `?headers=` names refused with 400: the proxy never carries credentials to a target. */
const PROXY_HEADERS_REFUSED = new Set(["cookie", "authorization", "proxy-authorization"]);

/** An HTTP field name (a token, RFC 9110 §5.1). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value the proxy passes: one line of printable ASCII (tabs allowed). */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

const USER_AGENT = "Mozilla/5.0 (compatible; N2StoreGateway/1.0)";

function invalidHeaders(message: string): ApiError {
  return new ApiError("VALIDATION_FAILED", `query.headers: ${message}`, {
    details: [{ path: ["query", "headers"], message }],
    nothingSent: true,
  });
}

/** What the proxy does with a `?headers=` name: send it, drop it silently, or refuse the request. */
export function proxyHeaderPolicy(lowerName: string): "send" | "drop" | "refuse" {
  if (PROXY_HEADERS_REFUSED.has(lowerName)) {
    return "refuse";
  }
  if (PROXY_HEADERS_DROPPED.has(lowerName) || PROXY_PREFIXES_DROPPED.some((p) => lowerName.startsWith(p))) {
    return "drop";
  }
  if (
    lowerName === "accept" ||
    PROXY_HEADERS_SENT.has(lowerName) ||
    PROXY_PREFIXES_SENT.some((prefix) => lowerName.startsWith(prefix) && lowerName.length > prefix.length)
  ) {
    return "send";
  }
  return "refuse";
}

/**
 * Reads `?headers=`: a JSON object of header names and single-line values. Names the pages set are
 * returned (lower-cased), Host, hop-by-hop and client-address headers are left out, and
 * credentials or any other name refuse the request (see `proxyHeaderPolicy`).
 */
export function proxyHeaders(raw: string | undefined): Record<string, string> {
  if (raw === undefined || raw === "") {
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidHeaders("must be a JSON object of header names and values");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalidHeaders("must be a JSON object of header names and values");
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!FIELD_NAME.test(name)) {
      throw invalidHeaders(`${JSON.stringify(name)} is not a header name`);
    }
    const lower = name.toLowerCase();
    const policy = proxyHeaderPolicy(lower);
    if (policy === "refuse") {
      throw invalidHeaders(
        PROXY_HEADERS_REFUSED.has(lower)
          ? `the header "${name}" carries credentials, which the proxy never forwards`
          : `the header "${name}" cannot be set through the proxy`,
      );
    }
    if (typeof value !== "string" || !FIELD_VALUE.test(value)) {
      throw invalidHeaders(`the value of "${name}" must be one line of printable ASCII`);
    }
    if (policy === "send") {
      out[lower] = value;
    }
  }
  return out;
}

type ProxyInput = Pick<OperationInput<OperationId>, "rawHeaders"> & {
  readonly query: { readonly url: string; readonly headers?: string };
  readonly body?: RawBody | Uint8Array | null | undefined;
};

async function sendThroughProxy(
  method: string,
  input: ProxyInput,
  deps: SharedDeps,
): Promise<PassthroughResult> {
  const headers: Record<string, string> = {
    "user-agent": USER_AGENT,
    accept: "application/json, text/plain, */*",
    ...proxyHeaders(input.query.headers),
  };
  const body = method === "GET" || method === "DELETE" ? null : (input.body ?? null);
  const contentType = input.rawHeaders["content-type"];
  if (body !== null && contentType !== undefined && headers["content-type"] === undefined) {
    headers["content-type"] = contentType;
  }
  const { response } = await fetchGuarded(deps.upstream, deps.config, input.query.url, {
    method,
    headers,
    body,
    timeoutMs: deps.config.upstreamTimeoutMs,
    maxBodyBytes: deps.config.proxyMaxBytes,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  return passthroughResult(response, UNTRUSTED_CONTENT_HEADERS);
}

const proxyHandler =
  (method: string) =>
  (input: ProxyInput, deps: SharedDeps): Promise<PassthroughResult> =>
    sendThroughProxy(method, input, deps);

/** `/api/proxy?url=`: any method to an allowed host, through the SSRF guard; by method. */
export const proxy = {
  get: proxyHandler("GET"),
  post: proxyHandler("POST"),
  put: proxyHandler("PUT"),
  patch: proxyHandler("PATCH"),
  delete: proxyHandler("DELETE"),
} as const;

/** The response's media type, lower-cased, without parameters; null when it has none. */
function mediaTypeOf(response: UpstreamResponse): string | null {
  return mediaType(response.headers["content-type"]);
}

function isImage(response: UpstreamResponse): boolean {
  return mediaTypeOf(response)?.startsWith("image/") === true;
}

/** What image-proxy passes: images, and videos (the chat plays them through it). */
function isMedia(type: string | null): type is string {
  return type !== null && (type.startsWith("image/") || type.startsWith("video/"));
}

const DAY_CACHE = "public, max-age=86400";

/** An image response for the avatars, streamed, cacheable by the browser for a day. */
function imageResult(response: UpstreamResponse): RawResult<200> {
  const headers = passBackHeaders(response.headers);
  delete headers["content-type"];
  return {
    status: 200,
    raw: response.body ?? new Uint8Array(),
    contentType: response.headers["content-type"] ?? "application/octet-stream",
    headers: { ...headers, "cache-control": DAY_CACHE, ...UNTRUSTED_CONTENT_HEADERS },
  };
}

/** The upstream's range headers (RFC 9110 §14), which the media routes pass back. */
function rangeHeadersOf(response: UpstreamResponse): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ["content-range", "accept-ranges"]) {
    const value = response.headers[name];
    if (value !== undefined) {
      out[name] = value;
    }
  }
  return out;
}

/** What `X-Image-Resize` says about a `w`/`q` request. */
type ResizeOutcome = "resized" | "forwarded" | "original";

/**
 * An image or video from the target as image-proxy's answer: its own bytes and type, its range
 * headers, a one-day cache, and `206` kept as `206` (a `<video>` seeking).
 */
function mediaResult(response: UpstreamResponse, outcome?: ResizeOutcome): RawResult<200> | RawResult<206> {
  const passed = passBackHeaders(response.headers);
  delete passed["content-type"];
  const headers = {
    ...passed,
    ...rangeHeadersOf(response),
    "cache-control": DAY_CACHE,
    ...(outcome === undefined ? {} : { "x-image-resize": outcome }),
    ...UNTRUSTED_CONTENT_HEADERS,
  };
  const raw = response.body ?? new Uint8Array();
  const contentType = response.headers["content-type"] ?? "application/octet-stream";
  return response.status === 206
    ? { status: 206, raw, contentType, headers }
    : { status: 200, raw, contentType, headers };
}

/** The widest image `w` may ask for (the original Render server's limit). */
export const MAX_IMAGE_WIDTH = 4000;

function wholeNumber(value: number | undefined, name: "w" | "q", max: number): number | null {
  if (value === undefined) {
    return null;
  }
  if (!Number.isInteger(value) || value < 1 || value > max) {
    const message = `must be a whole number from 1 to ${max}`;
    throw new ApiError("VALIDATION_FAILED", `query.${name}: ${message}`, {
      details: [{ path: ["query", name], message }],
      nothingSent: true,
    });
  }
  return value;
}

/**
 * The resize image-proxy's `w` and `q` ask for, or null when they ask none. The spec's validators
 * have checked them already; this holds the handler to the same bounds on its own.
 */
export function resizeOptions(query: { readonly w?: number; readonly q?: number }): ResizeOptions | null {
  const width = wholeNumber(query.w, "w", MAX_IMAGE_WIDTH);
  const quality = wholeNumber(query.q, "q", 100);
  return width === null && quality === null ? null : { width, quality };
}

/** A `Range` value of byte ranges (RFC 9110 §14.1.2): `bytes=0-1023`, `bytes=500-`, `bytes=-500`. */
const BYTE_RANGES = /^bytes=(?:\d+-\d*|-\d+)(?:[ \t]*,[ \t]*(?:\d+-\d*|-\d+))*$/i;

/**
 * The request headers of a range request to send on: `Range` when it is a byte range (anything
 * else is not sent, so the whole body comes back, as RFC 9110 lets a server do), and `If-Range`
 * with it.
 */
export function rangeRequestHeaders(headers: {
  readonly range?: string;
  readonly "if-range"?: string;
}): Record<string, string> {
  const range = headers.range?.trim();
  if (range === undefined || range.length > 1024 || !BYTE_RANGES.test(range)) {
    return {};
  }
  const ifRange = headers["if-range"]?.trim();
  return ifRange !== undefined && ifRange !== "" && ifRange.length <= 1024 && FIELD_VALUE.test(ifRange)
    ? { range, "if-range": ifRange }
    : { range };
}

/** What image-proxy accepts from a target. */
const MEDIA_ACCEPT = "image/avif,image/webp,image/*,video/*;q=0.9,*/*;q=0.8";
/** What it accepts when it will re-encode: not AVIF, which the resizer passes unchanged. */
const RESIZE_ACCEPT = "image/webp,image/png,image/jpeg,image/*;q=0.9,*/*;q=0.8";

/**
 * Marks image-proxy's forward to `NODE_SERVER_URL`: a request carrying it is never forwarded again,
 * so a misconfigured URL (a Worker pointed at itself) cannot loop.
 */
export const RESIZE_FORWARDED_HEADER = "x-n2store-resize-forwarded";

/** Fetches the target for image-proxy: an image or a video, or its own non-2xx passed back. */
async function fetchMedia(
  target: string,
  deps: SharedDeps,
  accept: string,
  extraHeaders: Record<string, string> = {},
): Promise<{ response: UpstreamResponse; type: string } | PassthroughResult> {
  const { response } = await fetchGuarded(deps.upstream, deps.config, target, {
    method: "GET",
    headers: { "user-agent": USER_AGENT, accept, ...extraHeaders },
    timeoutMs: deps.config.upstreamTimeoutMs,
    maxBodyBytes: deps.config.imageMaxBytes,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  if (response.status < 200 || response.status >= 300) {
    // A 416 keeps its `Content-Range: bytes */<size>`, so the player learns the size.
    return passthroughResult(response, { ...rangeHeadersOf(response), ...UNTRUSTED_CONTENT_HEADERS });
  }
  const type = mediaTypeOf(response);
  if (!isMedia(type)) {
    await response.dump();
    throw new ApiError("UPSTREAM_BAD_RESPONSE", "The target did not answer with an image or a video.");
  }
  return { response, type };
}

function isFetched(value: { response: UpstreamResponse; type: string } | PassthroughResult): value is {
  response: UpstreamResponse;
  type: string;
} {
  return "response" in value;
}

/** A resizer's rejection as the gateway's error. */
function resizeError(error: unknown, deps: SharedDeps): unknown {
  if (isUpstreamFailure(error)) {
    return upstreamError(error, "the target", deps.config.upstreamTimeoutMs);
  }
  if (isImageResizeFailure(error)) {
    return error.kind === "too-many-pixels"
      ? new ApiError(
          "UPSTREAM_RESPONSE_TOO_LARGE",
          "The target's image has more pixels than the gateway resizes.",
          { cause: error },
        )
      : new ApiError("UPSTREAM_BAD_RESPONSE", "The target's image could not be decoded to resize it.", {
          cause: error,
        });
  }
  return error;
}

/** Fetches the target and re-encodes it with this runtime's resizer (types it does not take pass). */
async function resizeHere(
  target: string,
  resizer: ImageResizer,
  options: ResizeOptions,
  deps: SharedDeps,
): Promise<RawResult<200> | RawResult<206> | PassthroughResult> {
  const fetched = await fetchMedia(target, deps, RESIZE_ACCEPT);
  if (!isFetched(fetched)) {
    return fetched;
  }
  const { response, type } = fetched;
  if (!resizer.resizes(type) || response.body === null) {
    return mediaResult(response, "original");
  }
  let resized: ResizedImage;
  try {
    resized = await resizer.resize(response.body, type, options);
  } catch (error) {
    throw resizeError(error, deps);
  }
  return {
    status: 200,
    raw: resized.body,
    contentType: resized.contentType,
    headers: { "cache-control": DAY_CACHE, "x-image-resize": "resized", ...UNTRUSTED_CONTENT_HEADERS },
  };
}

/**
 * Asks the Node server (`NODE_SERVER_URL`) for the resized image, through the same guarded
 * upstream client, allowed to reach that one origin and nothing else (no redirect followed).
 * Null when it cannot answer with an image or a video: the caller then serves the original.
 */
async function forwardResize(
  target: URL,
  nodeServer: URL,
  options: ResizeOptions,
  deps: SharedDeps,
): Promise<RawResult<200> | RawResult<206> | null> {
  const forward = joinUrl(nodeServer, "/api/image-proxy");
  forward.searchParams.set("url", target.href);
  if (options.width !== null) {
    forward.searchParams.set("w", String(options.width));
  }
  if (options.quality !== null) {
    forward.searchParams.set("q", String(options.quality));
  }
  const origin = originRule(nodeServer);
  const onlyTheNodeServer = {
    ...deps.config,
    proxyAllowedHosts: [origin.host],
    proxyAllowedAddresses: origin.address === undefined ? [] : [origin.address],
  };
  try {
    const { response } = await fetchGuarded(deps.upstream, onlyTheNodeServer, forward, {
      method: "GET",
      headers: { "user-agent": USER_AGENT, accept: RESIZE_ACCEPT, [RESIZE_FORWARDED_HEADER]: "1" },
      timeoutMs: deps.config.upstreamTimeoutMs,
      maxBodyBytes: deps.config.imageMaxBytes,
      maxRedirects: 0,
      service: "the Node server",
      ...(deps.signal ? { signal: deps.signal } : {}),
    });
    if (response.status === 200 && isMedia(mediaTypeOf(response))) {
      return mediaResult(
        response,
        response.headers["x-image-resize"] === "resized" ? "forwarded" : "original",
      );
    }
    await response.dump();
    deps.log.warn(
      { status: response.status },
      "the Node server did not resize the image; serving the original",
    );
  } catch (error) {
    if (!isApiError(error)) {
      throw error;
    }
    deps.log.warn({ code: error.code }, "the Node server could not be asked to resize; serving the original");
  }
  return null;
}

/**
 * GET /api/image-proxy?url=[&w=&q=]: an image or a video from an allowed host, streamed; anything
 * else is refused. Without `w`/`q` a byte range passes both ways (a `<video>` seeks). With them, the
 * runtime's resizer re-encodes it, or the Node server does (the edge), or the original is served.
 */
export const getProxiedImage: SharedHandler<"getProxiedImage"> = async (input, deps) => {
  const options = resizeOptions(input.query);
  if (options === null) {
    const fetched = await fetchMedia(input.query.url, deps, MEDIA_ACCEPT, rangeRequestHeaders(input.headers));
    return isFetched(fetched) ? mediaResult(fetched.response) : fetched;
  }
  if (deps.imageResizer !== undefined) {
    return resizeHere(input.query.url, deps.imageResizer, options, deps);
  }
  const nodeServer = deps.config.nodeServerUrl;
  if (nodeServer !== null && input.rawHeaders[RESIZE_FORWARDED_HEADER] === undefined) {
    // Refused here, not at the Node server: a target this runtime may not reach is never forwarded.
    const { url } = checkTargetUrl(input.query.url, deps.config);
    const forwarded = await forwardResize(url, nodeServer, options, deps);
    if (forwarded !== null) {
      return forwarded;
    }
  }
  const fetched = await fetchMedia(input.query.url, deps, MEDIA_ACCEPT);
  return isFetched(fetched) ? mediaResult(fetched.response, "original") : fetched;
};

/** The avatar shown when none can be fetched: a grey circle with a person's outline. */
export const PLACEHOLDER_AVATAR =
  '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">' +
  '<circle cx="20" cy="20" r="20" fill="#d8dce3"/>' +
  '<circle cx="20" cy="15.5" r="6.5" fill="#9aa3b1"/>' +
  '<path d="M7.5 33.5c2.3-6 7-9 12.5-9s10.2 3 12.5 9a19.9 19.9 0 0 1-25 0z" fill="#9aa3b1"/></svg>';

function placeholder(): RawResult<200> {
  return {
    status: 200,
    raw: PLACEHOLDER_AVATAR,
    contentType: "image/svg+xml",
    headers: { "cache-control": "public, max-age=3600", "x-avatar-source": "placeholder" },
  };
}

const AVATAR_TIMEOUT_MS = 5000;

/** An avatar query value: any string, or a list when the parameter was repeated (its first counts). */
type AvatarParameter = string | readonly string[] | undefined;

function firstValue(value: AvatarParameter): string | undefined {
  return typeof value === "string" ? value : value?.[0];
}

/** An id or page usable in an upstream path: letters, digits, `_` and `-` (Pancake's `pzl_…`). */
const AVATAR_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** What pages write into a URL for a missing value (`?id=${undefined}`). */
const NO_VALUE = new Set(["undefined", "null", "nan"]);
const AVATAR_HASH = /^[A-Za-z0-9_-]{1,128}$/;
const PANCAKE_TOKEN = /^[A-Za-z0-9._~+/=-]{1,4096}$/;

/** A fb-avatar `id` or `page` that may go into an upstream URL, or null (then it is not used). */
export function avatarId(value: AvatarParameter): string | null {
  const id = firstValue(value)?.trim();
  return id !== undefined && AVATAR_ID.test(id) && !NO_VALUE.has(id.toLowerCase()) ? id : null;
}

/** A pancake-avatar `hash` that may go into the upstream URL, or null. */
export function avatarHash(value: AvatarParameter): string | null {
  const hash = firstValue(value)?.trim();
  return hash !== undefined && AVATAR_HASH.test(hash) ? hash : null;
}

/** A fb-avatar `token` that may be sent to Pancake, or null (Pancake is then asked without one). */
export function pancakeToken(value: AvatarParameter): string | null {
  const token = firstValue(value)?.trim();
  return token !== undefined && PANCAKE_TOKEN.test(token) ? token : null;
}

/** Tries each source in turn; the first image wins, every failure falls through to the next. */
async function firstImage(
  sources: readonly URL[],
  deps: SharedDeps,
  source: string[],
): Promise<RawResult<200>> {
  for (const [index, url] of sources.entries()) {
    try {
      const { response } = await fetchGuarded(deps.upstream, deps.config, url, {
        method: "GET",
        headers: { "user-agent": USER_AGENT, accept: "image/*,*/*;q=0.8" },
        timeoutMs: Math.min(AVATAR_TIMEOUT_MS, deps.config.upstreamTimeoutMs),
        maxBodyBytes: deps.config.imageMaxBytes,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
      if (response.status >= 200 && response.status < 300 && isImage(response)) {
        const result = imageResult(response);
        return { ...result, headers: { ...result.headers, "x-avatar-source": source[index] ?? "upstream" } };
      }
      await response.dump();
    } catch (error) {
      if (!isApiError(error)) {
        throw error;
      }
      deps.log.debug({ code: error.code, source: source[index] }, "avatar source failed");
    }
  }
  return placeholder();
}

/**
 * GET /api/fb-avatar: Pancake's cached avatar for the page (when a usable `page` is given), then
 * the Graph picture (for a numeric id), then the placeholder. `token` goes to Pancake only. What
 * cannot be used reaches no upstream: an unusable id is the placeholder at once.
 */
export const getFacebookAvatar: SharedHandler<"getFacebookAvatar"> = async (input, deps) => {
  const { config } = deps;
  const id = avatarId(input.query.id);
  if (id === null) {
    deps.log.debug({}, "fb-avatar: no usable id, answering the placeholder");
    return placeholder();
  }
  const page = avatarId(input.query.page);
  const token = pancakeToken(input.query.token);
  const sources: URL[] = [];
  const names: string[] = [];
  if (page !== null) {
    const pancake = joinUrl(config.pancakeBaseUrl, `/api/v1/pages/${page}/avatar/${id}`);
    if (token !== null) {
      pancake.searchParams.set("access_token", token);
    }
    sources.push(pancake);
    names.push("pancake");
  }
  // Graph ids are numbers; anything else could only fail there.
  if (/^[0-9]+$/.test(id)) {
    const graph = joinUrl(config.graphBaseUrl, `/${config.graphVersion}/${id}/picture`);
    graph.search = "width=80&height=80&type=normal";
    sources.push(graph);
    names.push("graph");
  }
  return firstImage(sources, deps, names);
};

/** GET /api/pancake-avatar: Pancake's content avatar by hash, or the placeholder. */
export const getPancakeAvatar: SharedHandler<"getPancakeAvatar"> = async (input, deps) => {
  const hash = avatarHash(input.query.hash);
  if (hash === null) {
    deps.log.debug({}, "pancake-avatar: no usable hash, answering the placeholder");
    return placeholder();
  }
  return firstImage([joinUrl(deps.config.pancakeContentBaseUrl, `/2.1-24/avatars/${hash}`)], deps, [
    "pancake-content",
  ]);
};
