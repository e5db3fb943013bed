import type { Readable } from "node:stream";
import {
  type Config,
  errorResult,
  execute,
  type FailureLimiter,
  JSON_BODY_LIMIT,
  jsonTooDeep,
  jsonTooDeepError,
  type NodeDeps,
  nodeOnlyHandlers,
  notServedResult,
  type RuntimeHealth,
  sharedHandlers,
  systemClock,
  TokenCache,
  TposAppVersion,
} from "@n2store/core";
import { SqlIdempotencyStore } from "@n2store/core/db";
import type { OperationSpec } from "@n2store/generated";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { CompiledQuery } from "kysely";
import type { AccessLog } from "../access-log.js";
import { sendResult } from "../adapter/reply.js";
import { toIncomingRequest } from "../adapter/request.js";
import { loadDocuments } from "../docs.js";
import { startIdempotencyPurge } from "../idempotency-purge.js";
import { createSharpResizer } from "../images/sharp-resizer.js";
import { PassThroughLane, type TrustProxy } from "../lane.js";
import { lazyChildLogger } from "../lazy-logger.js";
import { resultRecorder } from "../metrics.js";
import { type FastifyAdapter, registerFastifyRoutes } from "../routing.js";
import type { UndiciUpstream } from "../upstream/undici-upstream.js";
import { corsFor } from "./cors.js";
import { metricsHandler } from "./metrics.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Serves the public bodyless requests before Fastify routes them (see lane.ts). */
    passThroughLane: PassThroughLane;
  }
}

/** Options of the routes plugin. */
export interface RoutesOptions {
  /** Where every answer is counted and logged (Fastify's log controller, and the lane's). */
  readonly accessLog: AccessLog;
  readonly trustProxy: TrustProxy;
  readonly config: Config;
  readonly upstream: UndiciUpstream;
  readonly instanceId: string;
  readonly startedAt: number;
  /** Failed credential checks per client address, shared with /ws. */
  readonly failures: FailureLimiter;
  /** How often this instance tries to purge expired idempotency keys. */
  readonly purgeIntervalMs: number;
}

/** Every operation of the spec, served through the shared pipeline with the Node server's dependencies. */
export const routesPlugin = fp(
  async (app: FastifyInstance, options: RoutesOptions) => {
    const { config, upstream, instanceId } = options;
    const tokens = new TokenCache(systemClock);
    const tposAppVersion = new TposAppVersion(config.tposAppVersion);
    const idempotency = new SqlIdempotencyStore(async <Row>(text: string, parameters: readonly unknown[]) => {
      const result = await app.database.db.executeQuery<Row>(CompiledQuery.raw(text, [...parameters]));
      return { rows: [...result.rows] };
    });
    const stopPurge = startIdempotencyPurge({
      store: idempotency,
      database: app.database,
      log: app.log,
      intervalMs: options.purgeIntervalMs,
    });
    app.addHook("onClose", stopPurge);
    const documents = await loadDocuments();
    const imageResizer = createSharpResizer();

    const describeRuntime = async (): Promise<RuntimeHealth> => {
      const database = await app.database.ping(2000);
      return {
        instanceId,
        uptimeSeconds: Math.round((Date.now() - options.startedAt) / 100) / 10,
        database: { ...database, driver: app.database.driver },
        // The store is a table of that database: the same ping tells whether it answers.
        idempotencyStore: { configured: true, ...database },
        realtime: {
          state: app.realtime.localState,
          isLeader: app.realtime.isLeader,
          browserClients: app.hub.size,
        },
      };
    };

    const publish: NodeDeps["publish"] = (message) => app.hub.publish(message);
    // No abort signal: a caller that goes away mid-request cuts the streamed answer (and so the
    // upstream body) when Fastify destroys the reply, while a send already on its way to Graph
    // finishes and its result is kept for an idempotent retry.
    const deps = (
      log: FastifyBaseLogger,
      requestId: string,
      client: { readonly ip: string | undefined },
    ): NodeDeps => {
      return {
        config,
        upstream,
        clock: systemClock,
        log,
        requestId,
        runtime: "node",
        tokens,
        tposAppVersion,
        failures: options.failures,
        // Read when used (the credential checks): behind TRUST_PROXY, Fastify works it out of
        // X-Forwarded-For on every read, which the pass-through routes never need.
        get clientAddress() {
          // Undefined only once the socket is gone; core counts such a caller as "unknown" too.
          return client.ip ?? "unknown";
        },
        idempotency,
        imageResizer,
        describeRuntime,
        db: app.database.db,
        realtime: app.realtime,
        publish,
        defer: (work) => {
          work.catch((error: unknown) => log.warn({ err: error }, "deferred work failed"));
        },
      };
    };

    const adapter: FastifyAdapter<NodeDeps> = {
      serve: (operation, handler) => {
        // What the result tells the metrics (token cache, idempotency, SePay), chosen once per route.
        const record = resultRecorder(operation, app.metrics);
        return async (request, reply) => {
          const context = deps(request.log, request.id, request);
          let incoming: ReturnType<typeof toIncomingRequest>;
          try {
            incoming = toIncomingRequest(operation, {
              params: request.params as Record<string, string>,
              query: request.query as Record<string, string | string[]>,
              url: request.url,
              headers: request.headers,
              body: request.body,
            });
          } catch (error) {
            return sendResult(reply, errorResult(error, context));
          }
          const result = await execute(operation, handler, incoming, context);
          record?.(result);
          // Returning the reply tells Fastify the answer is on its way (a stream may still be flowing).
          return sendResult(reply, result);
        };
      },
      notServed: (operation) => async (request, reply) =>
        sendResult(
          reply,
          notServedResult(operation, { log: request.log, requestId: request.id, runtime: "node" }),
        ),
    };
    const handlers = {
      ...sharedHandlers,
      ...nodeOnlyHandlers,
      ...documents,
      getMetrics: metricsHandler(app.metrics),
    };
    const streamed = (operation: OperationSpec) => operation.body?.raw === true;

    // JSON and form bodies are parsed (and size-limited) by Fastify. An empty JSON body is no body
    // (a DELETE sent with a JSON Content-Type, say); the pipeline decides whether one was required.
    const parseJson = app.getDefaultJsonParser("error", "error");
    app.removeContentTypeParser("application/json");
    app.addContentTypeParser(
      "application/json",
      { parseAs: "string", bodyLimit: JSON_BODY_LIMIT },
      (request, body, done) => {
        if (body === "") {
          done(null, undefined);
          return;
        }
        // Refused before Fastify's parser: what is parsed is later validated and hashed recursively.
        if (jsonTooDeep(body as string)) {
          done(jsonTooDeepError(), undefined);
          return;
        }
        parseJson(request, body as string, done);
      },
    );
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: JSON_BODY_LIMIT },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    registerFastifyRoutes(app, handlers, adapter, (operation) => !streamed(operation));

    // Pass-through bodies stream to the upstream untouched, whatever their type, in their own context.
    await app.register(async (raw) => {
      raw.removeAllContentTypeParsers();
      raw.addContentTypeParser("*", (_request, payload: Readable, done) => done(null, payload));
      registerFastifyRoutes(raw, handlers, adapter, streamed);
    });

    // The public bodyless requests, ahead of Fastify, through the same handlers and pipeline.
    app.decorate(
      "passThroughLane",
      new PassThroughLane({
        handlers,
        deps,
        recorder: (operation) => resultRecorder(operation, app.metrics),
        cors: corsFor(config),
        accessLog: options.accessLog,
        childLogger: (requestId, request) => lazyChildLogger.call(app, app.log, { requestId }, {}, request),
        trustProxy: options.trustProxy,
      }),
    );
  },
  {
    name: "n2store-routes",
    fastify: "5.x",
    dependencies: ["n2store-database", "n2store-realtime", "n2store-metrics"],
  },
);
