import {
  type Config,
  type Env as ConfigEnv,
  corsHeaders,
  errorResult,
  execute,
  loadConfig,
  MemoryFailureLimiter,
  notServedResult,
  preflightHeaders,
  redactUrl,
  routeNotFound,
  type SharedDeps,
  sharedHandlers,
  systemClock,
  TokenCache,
  TposAppVersion,
} from "@n2store/core";
import { type IRequest, IttyRouter } from "itty-router";
import { toResponse } from "./adapter/reply.js";
import { discardUnreadBody, toIncomingRequest } from "./adapter/request.js";
import { EdgeFailureLimiter } from "./failures.js";
import { checkHyperdriveStore, HyperdriveIdempotencyStore } from "./idempotency.js";
import { consoleLogger, logRequest } from "./logger.js";
import { type IttyAdapter, registerIttyRoutes } from "./routing.js";
import { FetchUpstream } from "./upstream/fetch-upstream.js";

type Args = [Env, ExecutionContext];

// Isolate-wide state: a warm isolate keeps its tokens and learned TPOS version between requests;
// a cold isolate starts empty (README: "the token cache on the edge").
const tokens = new TokenCache(systemClock);
let tposAppVersion: TposAppVersion | undefined;
let configCache: { env: Env; config: Config } | undefined;
const upstream = new FetchUpstream();

function configFor(env: Env): Config {
  if (configCache?.env !== env) {
    configCache = { env, config: loadConfig(env as unknown as ConfigEnv) };
  }
  return configCache.config;
}

/** This isolate's count of failed credential checks; the binding adds the location-wide one. */
const isolateFailures = new MemoryFailureLimiter(systemClock);

function hyperdriveOf(env: Env): Hyperdrive | undefined {
  return (env as Partial<Env>).HYPERDRIVE;
}

/** The request id: the caller's X-Request-Id when sane, else Cloudflare's ray id, else a UUID. */
function requestIdOf(request: Request): string {
  const given = request.headers.get("x-request-id");
  if (given !== null && /^[A-Za-z0-9._-]{1,64}$/.test(given)) {
    return given;
  }
  return request.headers.get("cf-ray") ?? crypto.randomUUID();
}

/**
 * The access line of a request (logger.ts): the Node server's fields, so that both runtimes' logs
 * answer the same questions. `started` is Date.now() when the request came in.
 */
function logAnswer(
  request: IRequest,
  requestId: string,
  operationId: string | undefined,
  status: number,
  started: number,
): void {
  const url = new URL(request.url);
  const clientAddress = request.headers.get("cf-connecting-ip");
  logRequest({
    requestId,
    ...(operationId === undefined ? {} : { operationId }),
    method: request.method,
    url: redactUrl(`${url.pathname}${url.search}`),
    status,
    durationMs: Date.now() - started,
    ...(clientAddress === null ? {} : { clientAddress }),
  });
}

function depsFor(request: Request, env: Env, pending: Promise<unknown>[]): SharedDeps {
  const config = configFor(env);
  tposAppVersion ??= new TposAppVersion(config.tposAppVersion);
  const hyperdrive = hyperdriveOf(env);
  const idempotency = hyperdrive === undefined ? null : new HyperdriveIdempotencyStore(hyperdrive);
  const requestId = requestIdOf(request);
  const clientAddress = request.headers.get("cf-connecting-ip");
  return {
    config,
    upstream,
    clock: systemClock,
    log: consoleLogger(requestId),
    requestId,
    runtime: "edge",
    tokens,
    tposAppVersion,
    failures: new EdgeFailureLimiter(isolateFailures, (env as Partial<Env>).AUTH_FAILURES),
    ...(clientAddress === null ? {} : { clientAddress }),
    idempotency,
    signal: request.signal,
    // Reachability, not only configuration: one uncached statement through Hyperdrive per /health.
    describeRuntime: async () => ({
      idempotencyStore:
        hyperdrive === undefined
          ? { configured: false, reachable: false }
          : await checkHyperdriveStore(hyperdrive, (work) => pending.push(work)),
    }),
    // Work after the response (storing a streamed result for replay) must outlive the request.
    defer: (work) => {
      pending.push(work);
    },
  };
}

const adapter: IttyAdapter<SharedDeps, Args> = {
  serve: (operation, handler) => async (request: IRequest, env: Env, ctx: ExecutionContext) => {
    const started = Date.now();
    const pending: Promise<unknown>[] = [];
    const deps = depsFor(request as unknown as Request, env, pending);
    const cors = corsHeaders(request.headers.get("origin") ?? undefined, deps.config);
    let result: Awaited<ReturnType<typeof execute>>;
    let incoming: Awaited<ReturnType<typeof toIncomingRequest>> | undefined;
    try {
      incoming = await toIncomingRequest(operation, request);
      result = await execute(operation, handler, incoming, deps);
    } catch (error) {
      result = errorResult(error, deps);
    } finally {
      await discardUnreadBody(request as unknown as Request, incoming);
      const store = deps.idempotency;
      // Deferred work runs after the response; the store's connection closes once it is done.
      ctx.waitUntil(
        Promise.allSettled(pending).then(() =>
          store instanceof HyperdriveIdempotencyStore ? store.close() : undefined,
        ),
      );
    }
    logAnswer(request, deps.requestId, operation.operationId, result.status, started);
    return toResponse(result, { ...cors, "x-request-id": deps.requestId });
  },
  notServed: (operation) => async (request: IRequest, env: Env) => {
    const started = Date.now();
    const config = configFor(env);
    const requestId = requestIdOf(request as unknown as Request);
    const result = notServedResult(operation, { log: consoleLogger(requestId), requestId, runtime: "edge" });
    logAnswer(request, requestId, operation.operationId, result.status, started);
    return toResponse(result, {
      ...corsHeaders(request.headers.get("origin") ?? undefined, config),
      "x-request-id": requestId,
    });
  },
};

/** The Worker's router: CORS preflights, every operation of the spec, and 404 in the error shape. */
export function buildRouter() {
  const router = IttyRouter<IRequest, Args>();
  router.options("*", (request: IRequest, env: Env) => {
    const started = Date.now();
    const headers = preflightHeaders(request.headers.get("origin") ?? undefined, configFor(env));
    logAnswer(request, requestIdOf(request as unknown as Request), undefined, 204, started);
    return new Response(null, { status: 204, headers });
  });
  registerIttyRoutes(router, sharedHandlers, adapter);
  router.all("*", (request: IRequest, env: Env) => {
    const started = Date.now();
    const requestId = requestIdOf(request as unknown as Request);
    const path = new URL(request.url).pathname;
    const result = errorResult(routeNotFound(request.method, path), {
      log: consoleLogger(requestId),
      requestId,
    });
    logAnswer(request, requestId, undefined, result.status, started);
    return toResponse(result, {
      ...corsHeaders(request.headers.get("origin") ?? undefined, configFor(env)),
      "x-request-id": requestId,
    });
  });
  return router;
}
