import { redactUrl } from "@n2store/core";
import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from "fastify";
import { ACCESS_MESSAGE } from "./logging.js";
import type { GatewayMetrics } from "./metrics.js";

/**
 * Where every answered request ends: Fastify calls `requestCompleted` once per response, after its
 * last byte, whether or not a line is logged. It counts the request in the metrics (operation,
 * status, duration) and writes the one access line at info: request id, operationId, method, the
 * URL with its credentials redacted, status, duration and client address. Fastify's two default
 * lines ("incoming request", "request completed") are gone; nothing is added to the request path,
 * which already ends here.
 */
export class AccessLog extends LogController {
  constructor(
    private readonly metrics: GatewayMetrics,
    /** Whether info lines are written at all (LOG_LEVEL): the benchmark runs at warn, with no line per request. */
    private readonly logRequests: boolean,
  ) {
    // The request id under the name the error bodies and the Worker's lines use.
    super({ requestIdLogLabel: "requestId" });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    this.completed(
      error,
      (request.routeOptions.config as { operationId?: string }).operationId,
      request,
      reply.statusCode,
      reply.elapsedTime,
      reply.log,
    );
  }

  /**
   * One answered request, from Fastify or from the pass-through lane: `request` gives the method,
   * the URL and (read only when a line is written) the client address.
   */
  completed(
    error: Error | null | undefined,
    operationId: string | undefined,
    request: { readonly method: string; readonly url: string; readonly ip: string | undefined },
    status: number,
    durationMs: number,
    log: FastifyBaseLogger,
  ): void {
    this.metrics.operation(operationId, request.method).observe(status, durationMs);
    if (!this.logRequests && error == null) {
      return;
    }
    const fields = {
      operationId,
      method: request.method,
      url: redactUrl(request.url),
      status,
      durationMs: Math.round(durationMs * 10) / 10,
      clientAddress: request.ip,
    };
    if (error == null) {
      log.info(fields, ACCESS_MESSAGE);
    } else {
      log.warn({ ...fields, err: error }, "the answer failed while it was being sent");
    }
  }
}
