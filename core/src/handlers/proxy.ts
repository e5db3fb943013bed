/**
 * `/api/proxy?url=`: the original's generic proxy, any method to an allowed host through the SSRF
 * guard, with the headers the pages give in `?headers=` filtered by one policy.
 */
import type { OperationId, OperationInput, PassthroughResult, RawBody } from "@n2store/generated";
import { CACHE_REQUEST_HEADERS } from "../cors.js";
import type { SharedDeps } from "../deps.js";
import { ApiError } from "../errors.js";
import { FIELD_VALUE, GATEWAY_USER_AGENT } from "../http.js";
import { fetchGuarded, passthroughResult, UNTRUSTED_CONTENT_HEADERS } from "../upstream.js";

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
    "user-agent": GATEWAY_USER_AGENT,
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
