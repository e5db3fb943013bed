import {
  BAD_PERCENT_ENCODING,
  type Config,
  corsHeaders,
  type Env,
  errorResult,
  invalidPath,
  JSON_BODY_LIMIT,
  type Logger,
  loadConfig,
  MemoryFailureLimiter,
  systemClock,
} from "@n2store/core";
import Fastify, { type FastifyInstance } from "fastify";
import { AccessLog } from "./access-log.js";
import { sendResult } from "./adapter/reply.js";
import { loadNodeSettings } from "./env.js";
import { clientErrorHandler, httpServerOptions, laneServerFactory, requestIdOf } from "./http.js";
import { type PassThroughLane, ROUTER_OPTIONS } from "./lane.js";
import { lazyChildLogger } from "./lazy-logger.js";
import { chooseLogFormat, type LogDestination, loggerOptions, prettyDestination } from "./logging.js";
import { GatewayMetrics } from "./metrics.js";
import { corsPlugin } from "./plugins/cors.js";
import { databasePlugin } from "./plugins/database.js";
import { errorsPlugin } from "./plugins/errors.js";
import { metricsPlugin } from "./plugins/metrics.js";
import { realtimePlugin } from "./plugins/realtime.js";
import { routesPlugin } from "./plugins/routes.js";
import { type LookupAll, UndiciUpstream } from "./upstream/undici-upstream.js";

/** What buildApp needs; everything else comes from the environment. */
export interface AppOptions {
  readonly env: Env;
  /** Overrides DATA_DIR; `null` keeps PGlite in memory (tests). */
  readonly dataDir?: string | null;
  /** `false` silences logs (tests); otherwise pino at LOG_LEVEL. */
  readonly logger?: boolean;
  /** Where the log lines go instead of stdout, as JSON (tests read them). */
  readonly logStream?: LogDestination;
  /** Overrides DNS for the SSRF-guarded connector (tests). */
  readonly lookup?: LookupAll;
  readonly heartbeatMs?: number;
  readonly reconnectBaseMs?: number;
}

/**
 * Builds the Node server (never listens): Fastify with the database, the realtime relay and every
 * operation of the spec. The caller owns `listen` and `close`.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const settings = loadNodeSettings(options.env);
  const config: Config = loadConfig(options.env);
  const metrics = new GatewayMetrics(config);
  // Silenced, not absent: Fastify then still tells the access log (and so the metrics) of every answer.
  const level = options.logger === false ? "silent" : settings.logLevel;
  let destination = options.logStream;
  if (
    destination === undefined &&
    options.logger !== false &&
    chooseLogFormat(settings.logFormat, process.stdout.isTTY === true) === "pretty"
  ) {
    destination = await prettyDestination(
      process.stdout,
      process.stdout.isTTY === true && options.env.NO_COLOR === undefined,
    );
  }
  const accessLog = new AccessLog(metrics, ["trace", "debug", "info"].includes(level));
  // The pass-through lane, once the routes exist; until then (and once closing) Fastify has all.
  const lane: { current: PassThroughLane | null } = { current: null };
  const app: FastifyInstance = Fastify({
    logger: loggerOptions(level, destination),
    logController: accessLog,
    serverFactory: laneServerFactory(lane),
    genReqId: (request) => requestIdOf(request.headers),
    // Behind Render's or another load balancer, the client's address is in X-Forwarded-For.
    trustProxy: settings.trustProxy,
    ...httpServerOptions(settings.requestTimeoutMs),
    clientErrorHandler: clientErrorHandler((): Logger => app.log),
    bodyLimit: JSON_BODY_LIMIT,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    pluginTimeout: 60_000,
    childLoggerFactory: lazyChildLogger,
    routerOptions: { ...ROUTER_OPTIONS },
    // The router itself refuses a path it cannot percent-decode (FST_ERR_BAD_URL) or a parameter over
    // maxParamLength, and by default answers in Fastify's own body, whose `code` is not an ErrorCode
    // of the spec: answer with the one Error shape instead (400 VALIDATION_FAILED, as the edge does).
    frameworkErrors: (error, request, reply) => {
      const message =
        error.code === "FST_ERR_BAD_URL"
          ? BAD_PERCENT_ENCODING
          : "A path parameter is longer than this server accepts.";
      // Routing failed before the onRequest hooks ran: add what they would have (CORS, request id).
      reply.headers(corsHeaders(request.headers.origin, config));
      reply.header("x-request-id", request.id);
      sendResult(reply, errorResult(invalidPath(message), { log: request.log, requestId: request.id }));
    },
  });
  const upstream = new UndiciUpstream({
    allowedAddresses: config.proxyAllowedAddresses,
    observer: metrics,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  app.addHook("onClose", async () => {
    await upstream.close();
  });

  await app.register(errorsPlugin);
  await app.register(corsPlugin, { config });
  await app.register(databasePlugin, {
    databaseUrl: settings.databaseUrl,
    dataDir: options.dataDir === undefined ? settings.dataDir : options.dataDir,
  });
  // One count of failed credential checks for this instance, shared by the HTTP routes and /ws.
  const failures = new MemoryFailureLimiter(systemClock);
  await app.register(realtimePlugin, {
    failures,
    config,
    instanceId: settings.instanceId,
    leaderPollMs: settings.leaderPollMs,
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.reconnectBaseMs ? { reconnectBaseMs: options.reconnectBaseMs } : {}),
  });
  await app.register(metricsPlugin, { metrics });
  await app.register(routesPlugin, {
    accessLog,
    trustProxy: settings.trustProxy,
    failures,
    purgeIntervalMs: settings.idempotencyPurgeIntervalMs,
    config,
    upstream,
    instanceId: settings.instanceId,
    startedAt: Date.now(),
  });
  lane.current = app.passThroughLane;
  // Closing: Fastify answers every new request (503, Connection: close).
  app.addHook("preClose", async () => {
    lane.current = null;
  });
  return app;
}
