import {
  acceptedRequestId,
  type Config,
  type Env as ConfigEnv,
  ConfigError,
  corsHeaders,
  errorResult,
  execute,
  type IncomingRequest,
  type Logger,
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
import type { AnyResult } from "@n2store/generated";
import { type IRequestStrict, Router } from "itty-router";
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

/**
 * A request as the stages and the routes see it: itty's request (params, query) plus what the
 * `before` stage works out once per request, as Fastify's onRequest hook and genReqId do. Exported
 * because buildRouter's type names it.
 */
export interface EdgeRequest extends IRequestStrict {
  /** Date.now() when the request came in, for the access line's duration. */
  started: number;
  /** The caller's X-Request-Id when sane, else Cloudflare's ray id, else a UUID. */
  requestId: string;
  log: Logger;
  config: Config;
  /** The operation that answered, for the access line; unset for a preflight or an unknown path. */
  operationId?: string;
}

/** `before`: the request's id, logger, start time and the Worker's config, for every request. */
function withRequestContext(request: EdgeRequest, env: Env): void {
  request.started = Date.now();
  request.requestId =
    acceptedRequestId(request.headers.get("x-request-id")) ??
    request.headers.get("cf-ray") ??
    crypto.randomUUID();
  request.log = consoleLogger(request.requestId);
  request.config = configFor(env);
}

/**
 * `finally` (Fastify's onSend): a route's result as the Response, with CORS and the request id on
 * every answer, errors and 404 included. A preflight comes as a ready Response with its own CORS
 * headers (and the request id, as Fastify's onRequest hook gives every reply on the Node server).
 */
function answer(result: AnyResult | Response, request: EdgeRequest): Response {
  if (result instanceof Response) {
    return result;
  }
  return toResponse(result, {
    ...corsHeaders(request.headers.get("origin") ?? undefined, request.config),
    "x-request-id": request.requestId,
  });
}

/**
 * `finally` (Fastify's onResponse): the access line of a request (logger.ts), with the Node
 * server's fields, so that both runtimes' logs answer the same questions.
 */
function logAnswer(response: Response, request: EdgeRequest): void {
  const url = new URL(request.url);
  const clientAddress = request.headers.get("cf-connecting-ip");
  logRequest({
    requestId: request.requestId,
    ...(request.operationId === undefined ? {} : { operationId: request.operationId }),
    method: request.method,
    url: redactUrl(`${url.pathname}${url.search}`),
    status: response.status,
    durationMs: Date.now() - request.started,
    ...(clientAddress === null ? {} : { clientAddress }),
  });
}

/**
 * `catch` (Fastify's error handler): anything a route or stage throws, in the one error shape. It
 * gives a finished Response, which `answer` passes on, because itty returns what `catch` gives for
 * an error thrown by a `finally` stage as it is. A ConfigError leaves the router: with no config
 * there are no CORS headers to give, and index.ts answers a misconfigured Worker.
 */
function answerError(error: unknown, request: EdgeRequest): Response {
  if (error instanceof ConfigError) {
    throw error;
  }
  return answer(errorResult(error, { log: request.log, requestId: request.requestId }), request);
}

function depsFor(request: EdgeRequest, env: Env, pending: Promise<unknown>[]): SharedDeps {
  const { config, requestId, log } = request;
  tposAppVersion ??= new TposAppVersion(config.tposAppVersion);
  const hyperdrive = hyperdriveOf(env);
  const idempotency = hyperdrive === undefined ? null : new HyperdriveIdempotencyStore(hyperdrive);
  const clientAddress = request.headers.get("cf-connecting-ip");
  return {
    config,
    upstream,
    clock: systemClock,
    log,
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

const adapter: IttyAdapter<SharedDeps, EdgeRequest, Args> = {
  serve: (operation, handler) => async (request, env, ctx) => {
    request.operationId = operation.operationId;
    const pending: Promise<unknown>[] = [];
    const deps = depsFor(request, env, pending);
    let incoming: IncomingRequest | undefined;
    try {
      // A request refused before the handler (413, 415, a bad path) throws to the router's catch.
      incoming = await toIncomingRequest(operation, request);
      return await execute(operation, handler, incoming, deps);
    } finally {
      await discardUnreadBody(request, incoming);
      const store = deps.idempotency;
      // Deferred work runs after the response; the store's connection closes once it is done.
      ctx.waitUntil(
        Promise.allSettled(pending).then(() =>
          store instanceof HyperdriveIdempotencyStore ? store.close() : undefined,
        ),
      );
    }
  },
  notServed: (operation) => (request) => {
    request.operationId = operation.operationId;
    return notServedResult(operation, { log: request.log, requestId: request.requestId, runtime: "edge" });
  },
};

/**
 * The Worker's router: CORS preflights, every operation of the spec, and 404 in the error shape.
 * Each cross-cutting part is one stage, as on the Node server each is one Fastify hook.
 */
export function buildRouter() {
  const router = Router<EdgeRequest, Args>({
    before: [withRequestContext],
    catch: answerError,
    finally: [answer, logAnswer],
  });
  router.options("*", (request) => {
    const headers = preflightHeaders(request.headers.get("origin") ?? undefined, request.config);
    return new Response(null, { status: 204, headers: { ...headers, "x-request-id": request.requestId } });
  });
  registerIttyRoutes(router, sharedHandlers, adapter);
  router.all("*", (request) => {
    throw routeNotFound(request.method, new URL(request.url).pathname);
  });
  return router;
}
