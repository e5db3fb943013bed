import type {
  Handler,
  OperationId,
  OperationInput,
  PassthroughResult,
  RawBody,
  RawResult,
} from "@n2store/generated";
import type { SharedDeps, SharedHandler } from "../deps.js";
import { ApiError, isApiError } from "../errors.js";
import type { UpstreamResponse } from "../ports/upstream.js";
import {
  fetchGuarded,
  joinUrl,
  passBackHeaders,
  passthroughResult,
  UNTRUSTED_CONTENT_HEADERS,
} from "../upstream.js";

/** Request headers the generic proxy accepts in `?headers=` (never credentials or cookies). */
const PROXY_HEADER_ALLOW = new Set([
  "accept",
  "accept-language",
  "content-type",
  "if-none-match",
  "if-modified-since",
  "tposappversion",
  "x-tpos-lang",
  "feature-version",
]);

const USER_AGENT = "Mozilla/5.0 (compatible; N2StoreGateway/1.0)";

function invalidHeaders(message: string): ApiError {
  return new ApiError("VALIDATION_FAILED", `query.headers: ${message}`, {
    details: [{ path: ["query", "headers"], message }],
    nothingSent: true,
  });
}

/** Reads `?headers=`: a JSON object whose names are all in the proxy's allow-list. */
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
    const lower = name.toLowerCase();
    if (!PROXY_HEADER_ALLOW.has(lower)) {
      throw invalidHeaders(`the header "${name}" cannot be set through the proxy`);
    }
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      throw invalidHeaders(`the value of "${name}" must be a single-line string`);
    }
    out[lower] = value;
  }
  return out;
}

type ProxyInput = Pick<OperationInput<OperationId>, "rawHeaders"> & {
  readonly query: { readonly url: string; readonly headers?: string };
  readonly body?: RawBody | Uint8Array | null | undefined;
};

async function proxy(method: string, input: ProxyInput, deps: SharedDeps): Promise<PassthroughResult> {
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
    proxy(method, input, deps);

/** `/api/proxy?url=`: any method to an allowed host, through the SSRF guard. */
export const proxyHandlers: {
  proxyGet: Handler<"proxyGet", SharedDeps>;
  proxyPost: Handler<"proxyPost", SharedDeps>;
  proxyPut: Handler<"proxyPut", SharedDeps>;
  proxyPatch: Handler<"proxyPatch", SharedDeps>;
  proxyDelete: Handler<"proxyDelete", SharedDeps>;
} = {
  proxyGet: proxyHandler("GET"),
  proxyPost: proxyHandler("POST"),
  proxyPut: proxyHandler("PUT"),
  proxyPatch: proxyHandler("PATCH"),
  proxyDelete: proxyHandler("DELETE"),
};

function isImage(response: UpstreamResponse): boolean {
  return /^image\//i.test(response.headers["content-type"] ?? "");
}

/** An image response, streamed, cacheable by the browser for a day. */
function imageResult(response: UpstreamResponse): RawResult<200> {
  const headers = passBackHeaders(response.headers);
  delete headers["content-type"];
  return {
    status: 200,
    raw: response.body ?? new Uint8Array(),
    contentType: response.headers["content-type"] ?? "application/octet-stream",
    headers: { ...headers, "cache-control": "public, max-age=86400", ...UNTRUSTED_CONTENT_HEADERS },
  };
}

/** GET /api/image-proxy?url=: an image from an allowed host, streamed; anything but an image is refused. */
export const getProxiedImage: SharedHandler<"getProxiedImage"> = async (input, deps) => {
  const { response } = await fetchGuarded(deps.upstream, deps.config, input.query.url, {
    method: "GET",
    headers: { "user-agent": USER_AGENT, accept: "image/avif,image/webp,image/*,*/*;q=0.8" },
    timeoutMs: deps.config.upstreamTimeoutMs,
    maxBodyBytes: deps.config.imageMaxBytes,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  if (response.status < 200 || response.status >= 300) {
    return passthroughResult(response, UNTRUSTED_CONTENT_HEADERS);
  }
  if (!isImage(response)) {
    await response.dump();
    throw new ApiError("UPSTREAM_BAD_RESPONSE", "The target did not answer with an image.");
  }
  return imageResult(response);
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
 * GET /api/fb-avatar: Pancake's cached avatar for the page (when `page` is given), then the Graph
 * picture, then the placeholder. `token` goes to Pancake only.
 */
export const getFacebookAvatar: SharedHandler<"getFacebookAvatar"> = async (input, deps) => {
  const { config } = deps;
  const sources: URL[] = [];
  const names: string[] = [];
  const { id, page, token } = input.query;
  if (page !== undefined) {
    const pancake = joinUrl(config.pancakeBaseUrl, `/api/v1/pages/${page}/avatar/${id}`);
    if (token !== undefined) {
      pancake.searchParams.set("access_token", token);
    }
    sources.push(pancake);
    names.push("pancake");
  }
  const graph = joinUrl(config.graphBaseUrl, `/${config.graphVersion}/${id}/picture`);
  graph.search = "width=80&height=80&type=normal";
  sources.push(graph);
  names.push("graph");
  return firstImage(sources, deps, names);
};

/** GET /api/pancake-avatar: Pancake's content avatar by hash, or the placeholder. */
export const getPancakeAvatar: SharedHandler<"getPancakeAvatar"> = async (input, deps) =>
  firstImage([joinUrl(deps.config.pancakeContentBaseUrl, `/2.1-24/avatars/${input.query.hash}`)], deps, [
    "pancake-content",
  ]);
