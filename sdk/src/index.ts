import { POLICY_METHODS } from "@n2store/generated/policy";
import createFetchClient, {
  type FetchResponse,
  type MaybeOptionalInit,
  type Middleware,
} from "openapi-fetch";
import { BASE, createFailover, ENGINE } from "./failover.js";
import type {
  CallOptions,
  ClientState,
  FailoverEvent,
  FailoverOptions,
  Runtime,
  ServerEvent,
} from "./options.js";
import { pathSerializer } from "./path.js";
import type { paths } from "./spec.js";

export { isN2StoreNetworkError, N2StoreNetworkError, type NetworkFailure } from "./errors.js";
export type {
  CallOptions,
  ClientState,
  FailoverEvent,
  FailoverOptions,
  Runtime,
  ServerConfig,
  ServerEvent,
  ServerState,
} from "./options.js";
export {
  createRealtime,
  type RealtimeClient,
  type RealtimeMessage,
  type RealtimeMessageType,
  type RealtimeOptions,
  type RealtimeState,
  type RealtimeStateEvent,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./realtime.js";
export type { components, operations, paths } from "./spec.js";

/** Options of {@link createClient}: the failover numbers plus what every request carries. */
export interface ClientOptions extends FailoverOptions {
  /** Sent as `x-api-key` on every call (not on health probes); a per-call header wins. */
  apiKey?: string;
  /** Headers for every call; a per-call header wins. */
  headers?: Record<string, string>;
}

type HttpMethod = "get" | "put" | "post" | "delete" | "patch";
/** Paths that have this method (openapi-typescript-helpers' `PathsWithMethod`). */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P] extends { [K in M]: unknown } ? P : never;
}[keyof paths];
// openapi-typescript-helpers' RequiredKeysOf, copied: the published types depend on openapi-fetch only.
// biome-ignore lint/complexity/noBannedTypes: `{} extends Pick<T, K>` is the test for "K is optional".
type RequiredKeys<T> = { [K in keyof T]: {} extends Pick<T, K> ? never : K }[keyof T];
type InitArg<I> = (RequiredKeys<I> extends undefined ? never : RequiredKeys<I>) extends never
  ? [(I & CallOptions)?]
  : [I & CallOptions];

/** One HTTP method of the client: openapi-fetch's, typed by the spec, plus {@link CallOptions}. */
export type CallMethod<M extends HttpMethod> = <
  P extends PathsWith<M>,
  I extends MaybeOptionalInit<paths[P], M>,
>(
  url: P,
  ...init: InitArg<I>
  // The intersection only restates openapi-fetch's constraint (an object), which the compiler
  // cannot prove for a generic P although `paths[P][M]` is an operation for every P with the method.
) => Promise<FetchResponse<paths[P][M] & Record<string | number, unknown>, I, `${string}/${string}`>>;

/**
 * The typed gateway client returned by {@link createClient}.
 *
 * @example
 * const { data } = await api.GET("/api/rest/{path}", { params: { path: { path: "v2.0/Product/ODataService.GetView" } } });
 * const { active, servers } = api.state(); // e.g. show "using the fallback" when active !== servers[0].url
 * const offDown = api.onDown((e) => banner(`${e.url} is down`));
 * const offRecover = api.onRecover(() => banner(null));
 * // on teardown: offDown(); offRecover(); api.close();
 */
export interface N2StoreClient {
  GET: CallMethod<"get">;
  PUT: CallMethod<"put">;
  POST: CallMethod<"post">;
  DELETE: CallMethod<"delete">;
  PATCH: CallMethod<"patch">;
  /** Registers openapi-fetch middleware; it runs once per call, above failover. */
  use(...middleware: Middleware[]): void;
  /** Removes middleware. */
  eject(...middleware: Middleware[]): void;
  /** Which server answered last, and each server's health. */
  state(): ClientState;
  /** A call moved to another server. Returns a disposer. */
  onFailover(fn: (event: FailoverEvent) => void): () => void;
  /** A server was marked down after consecutive failures. Returns a disposer. */
  onDown(fn: (event: ServerEvent) => void): () => void;
  /** A down server answered a probe or a call: it takes traffic again. Returns a disposer. */
  onRecover(fn: (event: ServerEvent) => void): () => void;
  /** Base URLs of the servers of one runtime, in order (probes `/health` where the runtime is unknown). */
  serversFor(runtime: Runtime): Promise<string[]>;
  /** Stops the background probes. Calls still work; the client just stops probing. */
  close(): void;
}

/**
 * Creates the typed gateway client. Each call goes to the first healthy server that serves the
 * operation and fails over in order; non-idempotent calls get an `Idempotency-Key` so they never run
 * twice. HTTP errors return `{ error }`; only "no server answered" throws an `N2StoreNetworkError`.
 *
 * @example
 * import { createClient } from "@n2store/sdk";
 *
 * const api = createClient({
 *   servers: ["https://edge.example.com", { url: "https://node.example.com", runtime: "node", keepWarm: true }],
 *   apiKey: "k_live_...",
 * });
 * const { data, error } = await api.GET("/api/odata/{path}", {
 *   params: { path: { path: "SaleOnline_Order/ODataService.GetView" }, query: { passthrough: { $top: "20" } } },
 *   timeoutMs: 8_000,
 * });
 * const off = api.onFailover((e) => console.warn(`${e.operation}: ${e.from} -> ${e.to} (${e.reason})`));
 */
export function createClient(options: ClientOptions): N2StoreClient {
  const [send, api] = createFailover(options);
  const client = createFetchClient<paths>({
    baseUrl: BASE,
    headers: { "x-api-key": options.apiKey, ...options.headers },
    // Free-form pass-through queries are one object parameter in form/explode style: `?$top=20`.
    querySerializer: { object: { style: "form", explode: true } },
    pathSerializer,
  });
  const out: Record<string | symbol, unknown> = {
    ...api,
    use: client.use,
    eject: client.eject,
    [ENGINE]: send,
  };
  for (const name of POLICY_METHODS as readonly ("GET" | "POST" | "PUT" | "PATCH" | "DELETE")[]) {
    // A per-call fetch, so that the engine learns the call's path template (its operation). The
    // CallOptions keys ride along in `init`: Request ignores them, openapi-fetch copies them as expandos.
    out[name] = (url: string, init: CallOptions = {}) =>
      (client[name] as (u: string, i: object) => unknown)(url, {
        ...init,
        fetch: (req: Request) => send(name, url, req, init),
      });
  }
  return out as unknown as N2StoreClient;
}
