import type { NodeHandler } from "@n2store/core";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { GatewayMetrics } from "../metrics.js";

declare module "fastify" {
  interface FastifyInstance {
    /** This instance's metrics (GET /metrics). */
    metrics: GatewayMetrics;
  }
}

/**
 * The metrics' live sources: the browser sockets, the realtime socket's state and the database pool,
 * read when Prometheus scrapes. The counters are fed by the access log (every answer), the upstream
 * client (every upstream call) and the routes (token cache, idempotency, SePay).
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance, options: { metrics: GatewayMetrics }) => {
    const { metrics } = options;
    app.decorate("metrics", metrics);
    metrics.watch({
      browserSockets: () => app.hub.size,
      realtime: () => ({ state: app.realtime.localState, isLeader: app.realtime.isLeader }),
      pool: () => app.database.poolStats(),
    });
  },
  { name: "n2store-metrics", fastify: "5.x", dependencies: ["n2store-database", "n2store-realtime"] },
);

/** GET /metrics: the registry in Prometheus's text format (the API key is checked by the pipeline). */
export function metricsHandler(metrics: GatewayMetrics): NodeHandler<"getMetrics"> {
  return async () => {
    const { text, contentType } = await metrics.exposition();
    return { status: 200, raw: text, contentType, headers: { "cache-control": "no-store" } };
  };
}
