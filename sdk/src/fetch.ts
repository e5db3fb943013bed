import { CATCH_ALL_PATHS, OPERATION_FLAGS, OperationFlag, POLICY_METHODS } from "@n2store/generated/policy";
import { isN2StoreNetworkError } from "./errors.js";
import { createFailover, ENGINE } from "./failover.js";
import type { N2StoreClient } from "./index.js";
import type { ClientState, FailoverEvent, FailoverOptions, ServerEvent } from "./options.js";

type Send = ReturnType<typeof createFailover>[0];
type Controls = Pick<N2StoreClient, "state" | "onFailover" | "onDown" | "onRecover" | "close">;

/** The signature of `fetch`. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** Options of {@link createFailoverFetch} when it makes its own engine. */
export interface FailoverFetchOptions extends Omit<FailoverOptions, "fetch"> {
  /**
   * The fetch that sends every request, to the gateway and elsewhere (tests, instrumentation).
   * Default: the global `fetch` as it is when {@link createFailoverFetch} runs, so the result may
   * replace `window.fetch` without calling itself.
   */
  fetch?: FetchFunction;
}

/** A `fetch` with failover to the gateway's servers, and the client's health controls. */
export interface FailoverFetch extends FetchFunction {
  /** Which server answered last, and each server's health. */
  state(): ClientState;
  /** A call moved to another server. Returns a disposer. */
  onFailover(fn: (event: FailoverEvent) => void): () => void;
  /** A server was marked down after consecutive failures. Returns a disposer. */
  onDown(fn: (event: ServerEvent) => void): () => void;
  /** A down server answered a probe or a call: it takes traffic again. Returns a disposer. */
  onRecover(fn: (event: ServerEvent) => void): () => void;
  /** Stops the background probes. */
  close(): void;
}

/** The operation a raw request is for: its path template and policy flags (see `OPERATION_FLAGS`). */
export interface MatchedOperation {
  template: string;
  flags: number;
}

/** Finds the operation of a method and a path (below the base URL, still percent-encoded). */
export type OperationMatcher = (method: string, path: string) => MatchedOperation | undefined;

/**
 * Compiles an operation table (by default the spec's, from `generated/policy.ts`) into a matcher.
 * Of the operations that have the method and whose template matches the path, the most specific
 * wins, as on the servers: a template without parameters, then one with `{param}` segments (one
 * segment each, more literal text first), then a catch-all (in `catchAlls`: its last parameter takes
 * the rest of the path, slashes included) with the longest literal prefix, so that a catch-all of
 * the whole `/api/` takes only what nothing else matches. HEAD is routed as GET, as the servers do.
 */
export function createMatcher(
  table: Readonly<Record<string, string>> = OPERATION_FLAGS,
  catchAlls: readonly string[] = CATCH_ALL_PATHS,
  methods: readonly string[] = POLICY_METHODS,
): OperationMatcher {
  const routes = Object.keys(table)
    .map((template) => {
      const rest = catchAlls.includes(template);
      const parts = template.split(/\{[^}]+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      // Each parameter is one segment, except a catch-all's, which is the last one.
      const pattern = parts.reduce((re, p, i) => re + (rest && i === parts.length - 1 ? ".+" : "[^/]+") + p);
      // 0: no parameter, 1: one-segment parameters, 2: catch-all; then the longer literal text first.
      const kind = rest ? 2 : parts.length > 1 ? 1 : 0;
      const literal = rest ? template.lastIndexOf("{") : template.replace(/\{[^}]+\}/g, "").length;
      return { template, re: new RegExp(`^${pattern}$`), rank: kind * 1e5 - literal };
    })
    .sort((a, b) => a.rank - b.rank);
  return (method, path) => {
    const i = methods.indexOf(method === "HEAD" ? "GET" : method);
    for (const { template, re } of routes) {
      const flags = i < 0 ? 0 : parseInt(table[template]?.[i] as string, 16);
      if (flags && re.test(path)) {
        return { template, flags };
      }
    }
    return undefined;
  };
}

/**
 * The policy flags of a raw request no operation matches: both runtimes, and idempotent only when
 * its method is (RFC 9110 §9.2.2), so that a POST or PATCH never moves after it may have reached a
 * server; no key is added, as no server keeps one for it.
 */
const unknownFlags = (method: string) =>
  OperationFlag.Edge |
  OperationFlag.Node |
  (/^(GET|HEAD|OPTIONS|TRACE|PUT|DELETE)$/.test(method) ? OperationFlag.Idempotent : 0);

const match = createMatcher();

/**
 * The options of each attempt's Request, read from the normalised one (so that a `Request` input
 * keeps its credentials, mode, ...), with the caller's init on top. Workers lack some of these: they
 * read as undefined there, which `new Request` accepts.
 */
const KEPT = [
  "cache",
  "credentials",
  "integrity",
  "keepalive",
  "mode",
  "redirect",
  "referrer",
  "referrerPolicy",
];

/**
 * Creates a `fetch` that sends every request aimed at one of the gateway's servers through the
 * client's failover, and every other request to the platform's `fetch` unchanged. Give it a client
 * from `createClient` to share its engine (servers, health, probes), or the client's options.
 *
 * A request is matched to the spec's operation by method and path (see {@link createMatcher}), and
 * then follows the typed client's rules, by the same code: only servers that serve the operation,
 * failover of idempotent calls, and an `Idempotency-Key` on every operation that accepts one (the
 * caller's `Idempotency-Key`, or else `X-Idempotency-Key`, is used instead of a new one), so that a
 * message is never sent twice. A request no operation matches starts on the first server, and a POST
 * or PATCH then never moves after it may have reached a server. Bodies of every kind (string,
 * FormData, URLSearchParams, Blob, ArrayBuffer) are read once and can be sent again; a
 * `ReadableStream` body (with `duplex: "half"`) is sent as it comes, to one server, without
 * failover. A `Request` input's body is read whole.
 *
 * It settles as `fetch` does: the caller's abort rejects with the signal's reason (an `AbortError`);
 * when no server answers, it rejects with an `N2StoreNetworkError`, which is a `TypeError`.
 *
 * @example
 * import { createFailoverFetch } from "@n2store/sdk/fetch";
 *
 * const smartFetch = createFailoverFetch({
 *   servers: ["https://chatomni-proxy.example.workers.dev", "https://n2store-fallback.example.com"],
 * });
 * const res = await smartFetch("https://chatomni-proxy.example.workers.dev/api/odata/Partner?$top=1", {
 *   headers: { authorization: `Bearer ${token}` },
 * });
 * const off = smartFetch.onFailover((e) => console.warn(`${e.operation}: ${e.from} -> ${e.to}`));
 */
export function createFailoverFetch(from: N2StoreClient | FailoverFetchOptions): FailoverFetch {
  // Taken now, not at call time: the result may replace window.fetch without calling itself.
  const platform: FetchFunction = (from as FailoverFetchOptions).fetch ?? globalThis.fetch.bind(globalThis);
  let send = (from as { [ENGINE]?: Send })[ENGINE];
  let api: Controls = from as N2StoreClient;
  if (!send) {
    if (!Array.isArray((from as FailoverFetchOptions).servers)) {
      throw new TypeError("createFailoverFetch: pass a client from createClient, or options with servers");
    }
    [send, api] = createFailover({ ...(from as FailoverFetchOptions), fetch: platform });
  }
  const engine = send;
  // The servers' origins and path prefixes, the longest prefix first.
  const bases = api
    .state()
    .servers.map(({ url }) => new URL(url))
    .map((u) => ({ origin: u.origin, prefix: u.pathname.replace(/\/+$/, "") }))
    .sort((a, b) => b.prefix.length - a.prefix.length);

  const failoverFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    let url: URL | undefined;
    try {
      // As the page resolves it: relative to the document. A Request (of any realm) has its URL.
      url = new URL((input as Request).url ?? String(input), globalThis.document?.baseURI);
    } catch {
      // not a URL this can route: fetch itself says why
    }
    const base = bases.find(
      ({ origin, prefix }) =>
        url?.origin === origin && (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)),
    );
    if (!url || !base) {
      return platform(input, init);
    }
    // A string or URL as resolved: a relative one is the page's, also where Request knows no page.
    const req = new Request((input as Request).url === undefined ? url : (input as Request), init);
    const method = req.method;
    const path = url.pathname.slice(base.prefix.length) || "/";
    const op = match(method, path);
    const flags = op?.flags ?? unknownFlags(method);
    const extras: Record<string, unknown> = {};
    for (const k of KEPT) {
      extras[k] = req[k as keyof Request];
    }
    const stream = init?.body instanceof ReadableStream;
    // The servers read `Idempotency-Key`; some pages send the original proxy's `X-Idempotency-Key`.
    const alias =
      flags & OperationFlag.AcceptsKey &&
      !req.headers.has("idempotency-key") &&
      req.headers.get("x-idempotency-key");
    try {
      return await engine(
        method,
        op?.template ?? path,
        req,
        {
          ...extras,
          ...init,
          // Only a stream is sent once: a caller's `duplex` on a string body does not stop failover.
          duplex: stream ? "half" : undefined,
          ...(alias && { idempotencyKey: alias }),
        },
        flags,
        path + url.search,
      );
    } catch (e) {
      // As fetch: the caller's abort rejects with the signal's own reason.
      throw isN2StoreNetworkError(e) && e.reason === "aborted" ? e.cause : e;
    }
  };
  return Object.assign(failoverFetch, {
    state: () => api.state(),
    onFailover: api.onFailover,
    onDown: api.onDown,
    onRecover: api.onRecover,
    close: () => api.close(),
  });
}
