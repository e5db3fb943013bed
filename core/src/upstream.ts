import type { PassthroughResult } from "@n2store/generated";
import type { Config } from "./config.js";
import { ApiError, isApiError } from "./errors.js";
import {
  isUpstreamFailure,
  type Upstream,
  type UpstreamRequest,
  type UpstreamResponse,
} from "./ports/upstream.js";
import { checkTargetUrl } from "./ssrf/url-policy.js";

/**
 * Calls an upstream and turns its failures into the gateway's errors: refused or unresolvable
 * (never sent) and reset -> 502 UPSTREAM_UNREACHABLE, timeout -> 504, SSRF refusal at connect -> 403,
 * a body over the limit -> 502. `service` names the upstream in messages ("TPOS", "Facebook").
 */
export async function callUpstream(
  upstream: Upstream,
  request: UpstreamRequest,
  service: string,
): Promise<UpstreamResponse> {
  try {
    return await upstream.request(request);
  } catch (error) {
    // An ApiError is already the answer (a request body over its limit while it streamed up).
    throw isApiError(error) ? error : upstreamError(error, service, request.timeoutMs);
  }
}

/** `service` at the start of a sentence ("the target" -> "The target"; "TPOS" stays). */
function capitalised(service: string): string {
  return service.charAt(0).toUpperCase() + service.slice(1);
}

/** Maps an error thrown by an Upstream (or while reading its body) to an ApiError. */
export function upstreamError(error: unknown, service: string, timeoutMs: number): ApiError {
  if (!isUpstreamFailure(error)) {
    return new ApiError("UPSTREAM_UNREACHABLE", `${capitalised(service)} could not be reached.`, {
      cause: error,
    });
  }
  switch (error.kind) {
    case "unreachable":
      return new ApiError("UPSTREAM_UNREACHABLE", `${capitalised(service)} could not be reached.`, {
        cause: error,
        nothingSent: true,
      });
    case "reset":
      return new ApiError("UPSTREAM_UNREACHABLE", `The connection to ${service} broke before it answered.`, {
        cause: error,
        outcomeUnknown: true,
      });
    case "timeout":
      return new ApiError(
        "UPSTREAM_TIMEOUT",
        `${capitalised(service)} did not answer within ${timeoutMs} ms.`,
        {
          cause: error,
          outcomeUnknown: true,
        },
      );
    case "blocked":
      return new ApiError("TARGET_NOT_ALLOWED", "The target host is not allowed.", {
        cause: error,
        nothingSent: true,
      });
    case "too-large":
      return new ApiError(
        "UPSTREAM_RESPONSE_TOO_LARGE",
        `${capitalised(service)} answered with a body larger than allowed.`,
        {
          cause: error,
        },
      );
  }
}

/** `path` under the base URL's own path (a base of `https://host/prefix` keeps `/prefix`). */
export function joinUrl(base: URL, path: string): URL {
  const url = new URL(base.href);
  url.pathname = `${base.pathname.replace(/\/$/, "")}/${path.replace(/^\//, "")}`;
  url.search = "";
  url.hash = "";
  return url;
}

/** Reads a JSON body of a small upstream answer; garbage becomes 502 UPSTREAM_BAD_RESPONSE. */
export async function readJson(
  response: UpstreamResponse,
  service: string,
  maxBytes = 1024 * 1024,
): Promise<unknown> {
  let text: string;
  try {
    text = await response.text(maxBytes);
  } catch (error) {
    throw upstreamError(error, service, 0);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(
      "UPSTREAM_BAD_RESPONSE",
      `${capitalised(service)} answered with a body that is not JSON.`,
    );
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Options of a fetch through the SSRF guard. */
export interface GuardedFetch {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: UpstreamRequest["body"];
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxRedirects?: number;
  readonly signal?: AbortSignal;
  /** Names the target in messages. */
  readonly service?: string;
}

/**
 * Fetches a caller-supplied (or redirect-supplied) URL through the SSRF guard, following at most
 * `maxRedirects` redirects by hand so that every hop's URL is checked again: scheme, credentials,
 * host allow-list and IP literals here, and the resolved addresses in the Node connector. A 303,
 * or a 301/302 after a POST, continues as a GET without a body; credentials and cookies are dropped
 * when a hop leaves the origin.
 */
export async function fetchGuarded(
  upstream: Upstream,
  config: Config,
  target: string | URL,
  options: GuardedFetch,
): Promise<{ response: UpstreamResponse; url: URL }> {
  const maxRedirects = options.maxRedirects ?? 5;
  const service = options.service ?? "the target";
  let current = checkTargetUrl(target, config);
  let method = options.method;
  let body = options.body ?? null;
  const headers: Record<string, string> = { ...options.headers };
  for (let hop = 0; ; hop++) {
    const request: UpstreamRequest = {
      url: current.url,
      method,
      headers,
      body,
      timeoutMs: options.timeoutMs,
      maxBodyBytes: options.maxBodyBytes,
      guarded: !current.trustedAddress,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    let response: UpstreamResponse;
    try {
      response = await callUpstream(upstream, request, service);
    } catch (error) {
      // After the first hop the caller's request has reached an upstream: no later failure may
      // claim that nothing happened (that would let an idempotent retry run it again).
      throw hop > 0 && isApiError(error) ? error.withNothingSent(false) : error;
    }
    const location = response.headers.location;
    if (!REDIRECTS.has(response.status) || location === undefined) {
      return { response, url: current.url };
    }
    await response.dump();
    if (hop >= maxRedirects) {
      throw new ApiError(
        "TOO_MANY_REDIRECTS",
        `${capitalised(service)} redirected more than ${maxRedirects} times.`,
      );
    }
    try {
      current = checkTargetUrl(location, config, current.url);
    } catch (error) {
      throw isApiError(error) ? error.withNothingSent(false) : error;
    }
    if (
      response.status === 303 ||
      ((response.status === 301 || response.status === 302) && method === "POST")
    ) {
      method = "GET";
      body = null;
      delete headers["content-type"];
      delete headers["content-length"];
    }
    if (current.url.origin !== request.url.origin) {
      delete headers.authorization;
      delete headers.cookie;
    }
  }
}

/** Response headers passed back from an upstream: content description and caching, never cookies. */
const PASS_BACK = [
  "content-type",
  "content-length",
  "content-encoding",
  "content-disposition",
  "content-language",
  "cache-control",
  "etag",
  "last-modified",
  "expires",
  "location",
  "retry-after",
  "tposappversion",
  "odata-version",
];

/** The upstream response headers a pass-through may return to the browser. */
export function passBackHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASS_BACK) {
    const value = headers[name];
    if (value !== undefined) {
      out[name] = value;
    }
  }
  return out;
}

/**
 * Headers for content fetched from a host the caller chose: the browser must not run it as a page
 * of the gateway's origin (no sniffing, sandboxed).
 */
export const UNTRUSTED_CONTENT_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
};

/** An upstream response as the handler's pass-through result. */
export function passthroughResult(
  response: UpstreamResponse,
  extra: Readonly<Record<string, string>> = {},
): PassthroughResult {
  // Added one by one: spreading two objects of varying shape was the costliest line of a
  // pass-through request's own code in the profile.
  const headers = passBackHeaders(response.headers);
  for (const name in extra) {
    headers[name] = extra[name] as string;
  }
  return { status: response.status, raw: response.body, headers };
}
