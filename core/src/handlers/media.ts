/**
 * `/api/image-proxy`: images and videos from allowed hosts, streamed (byte ranges pass both ways),
 * or re-encoded when `w`/`q` ask for it, here or by the Node server; and what the avatar routes
 * share with it.
 */
import type { PassthroughResult, RawResult } from "@n2store/generated";
import { originRule } from "../config.js";
import type { SharedDeps, SharedHandler } from "../deps.js";
import { ApiError, isApiError } from "../errors.js";
import { FIELD_VALUE, GATEWAY_USER_AGENT, mediaType } from "../http.js";
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

/** The response's media type, lower-cased, without parameters; null when it has none. */
function mediaTypeOf(response: UpstreamResponse): string | null {
  return mediaType(response.headers["content-type"]);
}

export function isImage(response: UpstreamResponse): boolean {
  return mediaTypeOf(response)?.startsWith("image/") === true;
}

/** What image-proxy passes: images, and videos (the chat plays them through it). */
function isMedia(type: string | null): type is string {
  return type !== null && (type.startsWith("image/") || type.startsWith("video/"));
}

const DAY_CACHE = "public, max-age=86400";

/** An image response for the avatars, streamed, cacheable by the browser for a day. */
export function imageResult(response: UpstreamResponse): RawResult<200> {
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
    headers: { "user-agent": GATEWAY_USER_AGENT, accept, ...extraHeaders },
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
      headers: { "user-agent": GATEWAY_USER_AGENT, accept: RESIZE_ACCEPT, [RESIZE_FORWARDED_HEADER]: "1" },
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
