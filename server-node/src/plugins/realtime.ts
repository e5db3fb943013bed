import websocket from "@fastify/websocket";
import { ApiError, type Config, errorResult, type FailureLimiter } from "@n2store/core";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { sendResult } from "../adapter/reply.js";
import { acceptBrowserSocket, CLOSE } from "../adapter/websocket.js";
import { BrowserHub } from "../realtime/hub.js";
import { RealtimeService } from "../realtime/service.js";

declare module "fastify" {
  interface FastifyInstance {
    hub: BrowserHub;
    realtime: RealtimeService;
  }
}

/** Options of the realtime plugin. */
export interface RealtimePluginOptions {
  readonly config: Config;
  readonly instanceId: string;
  readonly leaderPollMs: number;
  readonly heartbeatMs?: number;
  readonly reconnectBaseMs?: number;
  /** Failed credential checks per client, shared with the HTTP routes. */
  readonly failures: FailureLimiter;
}

/**
 * The realtime relay: the browser WebSocket endpoint (GET /ws), the hub that fans events out to
 * every instance's sockets, and the service that competes for the one upstream Pancake socket.
 */
export const realtimePlugin = fp(
  async (app: FastifyInstance, options: RealtimePluginOptions) => {
    const { config, instanceId } = options;
    const hub = new BrowserHub(app.database, app.log);
    await hub.start();
    const realtime = new RealtimeService({
      database: app.database,
      hub,
      wsUrl: config.pancakeWsUrl,
      instanceId,
      log: app.log,
      leaderPollMs: options.leaderPollMs,
      ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
      ...(options.reconnectBaseMs ? { reconnectBaseMs: options.reconnectBaseMs } : {}),
    });
    app.decorate("hub", hub);
    app.decorate("realtime", realtime);

    // In its own context: @fastify/websocket wraps the handler of every route registered in its
    // scope (to tell upgrades from plain requests), which only /ws needs. Registered app-wide it cost
    // every pass-through request an extra wrapper call.
    await app.register(async (scope) => {
      await scope.register(websocket, { options: { maxPayload: 64 * 1024 } });
      scope.route({
        method: "GET",
        url: "/ws",
        config: { operationId: "openRealtimeSocket" },
        handler: (request, reply) =>
          sendResult(
            reply,
            errorResult(new ApiError("UPGRADE_REQUIRED", "Open this endpoint as a WebSocket."), {
              log: request.log,
              requestId: request.id,
            }),
          ),
        wsHandler: (socket, request) =>
          acceptBrowserSocket(socket, {
            hub,
            config,
            instanceId,
            log: app.log,
            failures: options.failures,
            clientAddress: request.ip,
          }),
      });
    });

    const purge = setInterval(() => {
      if (realtime.isLeader) {
        hub
          .purge(10 * 60 * 1000)
          .catch((error: unknown) => app.log.warn({ err: error }, "could not purge realtime events"));
      }
    }, 60_000);
    purge.unref();

    app.addHook("onReady", async () => {
      realtime.run();
    });
    // Open sockets would keep the server from closing: tell browsers we are going away first.
    app.addHook("preClose", async () => {
      clearInterval(purge);
      hub.closeAll(CLOSE.goingAway, "server shutting down");
    });
    app.addHook("onClose", async () => {
      await realtime.close();
      await hub.stop();
    });
  },
  { name: "n2store-realtime", fastify: "5.x", dependencies: ["n2store-database"] },
);
