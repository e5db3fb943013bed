/**
 * The pass-through lane: the public, bodyless requests (every GET of the TPOS, Pancake, proxy and
 * image pass-throughs) served on Node's raw request and response, ahead of Fastify, through the same
 * pipeline (`execute`, the same handlers, validators, header policy, SSRF rules and limits). Fastify's
 * per-request work (its Request and Reply objects, the hook runners, the reply's send path) cost
 * about as much CPU as the gateway's own policy on these routes; the lane does only what the
 * gateway's plugins do for them: the request id, CORS, the error shape, the access line and the
 * metrics, with the same functions.
 *
 * Anything the lane does not take goes to Fastify unchanged, which answers it as before: a request
 * with a body, HEAD and OPTIONS, the operations with credentials, routes outside the spec, a URL
 * the router cannot decode, a parameter over the limit, and every request once the server is
 * closing (Fastify answers those 503). Routing is find-my-way with Fastify's options, and every
 * operation of the spec is in the lane's table (those it does not take marked so), so a URL picks
 * the same operation and the same parameters here as in Fastify (test/lane.test.ts compares them).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import { errorResult, execute, type NodeDeps } from "@n2store/core";
import {
  type AnyHandler,
  type AnyResult,
  type OperationSpec,
  operationIds,
  operations,
} from "@n2store/generated";
import type { FastifyBaseLogger } from "fastify";
import FindMyWay from "find-my-way";
import proxyAddr from "proxy-addr";
import type { AccessLog } from "./access-log.js";
import { writeResult } from "./adapter/reply.js";
import { toIncomingRequest } from "./adapter/request.js";
import { requestIdOf } from "./http.js";
import type { FastifyHandlers } from "./routing.js";

/** The router options the Node server gives Fastify; the lane's router gets the same. */
export const ROUTER_OPTIONS = { maxParamLength: 2048 } as const;

/** Who the client is behind a proxy: Fastify's `trustProxy`, in the same forms. */
export type TrustProxy = boolean | string | ((address: string, hop: number) => boolean);

/** What the lane needs from the server it runs in. */
export interface LaneOptions {
  /** The handler of each operation this runtime serves. */
  readonly handlers: FastifyHandlers<NodeDeps>;
  /** A request's dependencies, as the Fastify routes make them. */
  readonly deps: (
    log: FastifyBaseLogger,
    requestId: string,
    client: { readonly ip: string | undefined },
  ) => NodeDeps;
  /** What a result of `operation` tells the metrics besides the access line, if anything. */
  readonly recorder: (operation: OperationSpec) => ((result: AnyResult) => void) | undefined;
  /** The CORS headers of a response, by the request's Origin. */
  readonly cors: (origin: string | undefined) => Readonly<Record<string, string>>;
  readonly accessLog: AccessLog;
  /** The request's logger, bound to its id (Fastify's `childLoggerFactory`). */
  readonly childLogger: (requestId: string, request: IncomingMessage) => FastifyBaseLogger;
  readonly trustProxy: TrustProxy;
}

interface LaneRoute {
  readonly operation: OperationSpec;
  readonly handler: AnyHandler<NodeDeps>;
  readonly record: ((result: AnyResult) => void) | undefined;
}

/** The operations the lane may take: public, served here, and with no body or a streamed one. */
function laneEligible(operation: OperationSpec, handler: AnyHandler<NodeDeps> | undefined): boolean {
  return (
    handler !== undefined &&
    !operation.websocket &&
    operation.runtimes.includes("node") &&
    operation.security.length === 0 &&
    (operation.body === null || operation.body.raw)
  );
}

/** Fastify's reading of `trustProxy` (lib/request.js), so that `ip` is the same in both paths. */
function trustFunction(trust: TrustProxy): ((address: string, hop: number) => boolean) | null {
  if (trust === false) {
    return null;
  }
  if (trust === true) {
    return () => true;
  }
  if (typeof trust === "function") {
    return trust;
  }
  return proxyAddr.compile(trust.split(",").map((value) => value.trim()));
}

/** The client's address, read only when something asks (a credential check, an access line). */
class LaneClient {
  constructor(
    private readonly request: IncomingMessage,
    private readonly trust: ((address: string, hop: number) => boolean) | null,
  ) {}

  get ip(): string | undefined {
    if (this.trust === null) {
      return this.request.socket.remoteAddress;
    }
    const addresses = proxyAddr.all(this.request, this.trust);
    return addresses[addresses.length - 1];
  }

  get method(): string {
    return this.request.method ?? "GET";
  }

  get url(): string {
    return this.request.url ?? "/";
  }
}

/** Whether a request carries no body, by Fastify's rule for methods that may have one. */
function bodyless(request: IncomingMessage): boolean {
  const { headers } = request;
  return (
    headers["content-type"] === undefined &&
    headers["transfer-encoding"] === undefined &&
    (headers["content-length"] === undefined || headers["content-length"] === "0")
  );
}

export class PassThroughLane {
  private readonly router = FindMyWay(ROUTER_OPTIONS);
  private readonly trust: ((address: string, hop: number) => boolean) | null;

  constructor(private readonly options: LaneOptions) {
    this.trust = trustFunction(options.trustProxy);
    const handlers = options.handlers as unknown as Readonly<
      Record<string, AnyHandler<NodeDeps> | undefined>
    >;
    for (const id of operationIds) {
      const operation: OperationSpec = operations[id];
      const handler = handlers[id];
      // Every operation is routed, so that one the lane does not take still shadows a wider path.
      const route: LaneRoute | null =
        handler !== undefined && laneEligible(operation, handler)
          ? { operation, handler, record: options.recorder(operation) }
          : null;
      this.router.on(operation.method, operation.fastifyPath, () => {}, route);
    }
  }

  /** The operation and parameters this lane would serve `method url` with, or null (Fastify's then). */
  find(
    method: string,
    url: string,
  ): {
    operation: OperationSpec;
    params: Record<string, string | undefined>;
    query: Record<string, string>;
  } | null {
    const found = this.router.find(method as FindMyWay.HTTPMethod, url);
    const route = (found?.store ?? null) as LaneRoute | null;
    if (found === null || route === null) {
      return null;
    }
    return { operation: route.operation, params: found.params, query: found.searchParams };
  }

  /**
   * Serves `request` if it is the lane's; false leaves it to Fastify, untouched (nothing read from
   * it, nothing written).
   */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const method = request.method ?? "";
    const url = request.url ?? "/";
    const found = this.router.find(method as FindMyWay.HTTPMethod, url);
    const route = (found?.store ?? null) as LaneRoute | null;
    if (found === null || route === null) {
      return false;
    }
    if (method !== "GET" && !bodyless(request)) {
      return false;
    }
    const started = performance.now();
    const requestId = requestIdOf(request.headers);
    const log = this.options.childLogger(requestId, request);
    const client = new LaneClient(request, this.trust);
    const common = this.options.cors(request.headers.origin);
    const done = (error?: Error) => {
      response.removeListener("finish", done);
      response.removeListener("error", done);
      this.options.accessLog.completed(
        error,
        route.operation.operationId,
        client,
        response.statusCode,
        performance.now() - started,
        log,
      );
    };
    response.on("finish", done);
    response.on("error", done);
    const deps = this.options.deps(log, requestId, client);
    const origin = { log, requestId };
    let result: Promise<AnyResult>;
    try {
      const incoming = toIncomingRequest(route.operation, {
        params: found.params as Record<string, string>,
        query: found.searchParams,
        url,
        headers: request.headers,
        // Fastify reads no body of a GET, and the lane takes other methods only without one.
        body: undefined,
      });
      result = execute(route.operation, route.handler, incoming, deps);
    } catch (error) {
      result = Promise.resolve(errorResult(error, deps));
    }
    void result.then((answer) => {
      route.record?.(answer);
      this.write(response, common, answer, origin);
    });
    return true;
  }

  private write(
    response: ServerResponse,
    common: Readonly<OutgoingHttpHeaders>,
    result: AnyResult,
    origin: { log: FastifyBaseLogger; requestId: string },
  ): void {
    try {
      writeResult(response, common, result, origin);
    } catch (error) {
      // A header the handler should not have produced, say: the error shape if nothing is out yet.
      if (response.headersSent) {
        origin.log.error({ err: error }, "the answer failed while it was being written");
        response.destroy();
        return;
      }
      // writeHead checks every header before it keeps any: nothing of the failed head is left.
      writeResult(response, common, errorResult(error, origin), origin);
    }
  }
}
