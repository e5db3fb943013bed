import { randomUUID } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import { ApiError, acceptedRequestId, type Logger, toErrorBody } from "@n2store/core";
import type { FastifyServerOptions } from "fastify";
import type { PassThroughLane } from "./lane.js";

/**
 * A request's id: the caller's X-Request-Id when the edge would keep it too (core's rule), else a
 * new one. Fastify's `genReqId` and the pass-through lane both use it.
 */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const header = headers["x-request-id"];
  return acceptedRequestId(Array.isArray(header) ? header[0] : header) ?? randomUUID();
}

/** Headers must arrive within this long (or the request timeout, when that is shorter). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** How long an idle keep-alive connection is kept (above the 60 s idle of common load balancers). */
export const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * The Node HTTP server's limits on slow clients. Fastify leaves `requestTimeout` at 0 (none), so a
 * client sending its headers or body a byte at a time (slowloris) held a socket for as long as it
 * liked. Now a whole request must arrive within `requestTimeoutMs`, its headers sooner, an idle
 * keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS, and Node checks these every second
 * instead of every 30 s. Receiving only: a long download or a WebSocket is not cut by them.
 */
export function httpServerOptions(requestTimeoutMs: number): Pick<
  FastifyServerOptions,
  "requestTimeout" | "keepAliveTimeout"
> & {
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  return {
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeoutMs),
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.ceil(requestTimeoutMs / 2)),
    },
  };
}

/** What Node's HTTP parser or its timers reported, as one of our errors. */
function clientErrorOf(error: NodeJS.ErrnoException): ApiError {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return new ApiError("REQUEST_TIMEOUT", "The request did not arrive in time; send it whole and promptly.");
  }
  if (error.code === "HPE_HEADER_OVERFLOW") {
    return new ApiError("HEADERS_TOO_LARGE", "The request's headers are larger than this server accepts.");
  }
  return new ApiError(
    "MALFORMED_REQUEST",
    "The request is not valid HTTP/1.1 (a malformed header, a folded header line, or both Content-Length and Transfer-Encoding).",
  );
}

/**
 * Fastify's `clientErrorHandler`: a request Node could not parse, or that took too long to arrive,
 * gets the one error shape (with a request id to find it in the logs) where a response is still
 * possible, instead of Fastify's `{"message":"Client Error"}`; then the connection is closed.
 */
export function clientErrorHandler(log: () => Logger) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) {
      return;
    }
    const apiError = clientErrorOf(error);
    const requestId = randomUUID();
    log().info({ code: apiError.code, parserCode: error.code, requestId }, apiError.message);
    // A response already on its way cannot be replaced (Node's own rule for its 408).
    const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
      ?.headersSent;
    if (socket.writable && started !== true) {
      const body = JSON.stringify(toErrorBody(apiError, requestId));
      socket.write(
        `HTTP/1.1 ${apiError.status} ${toErrorBody(apiError).error}\r\n` +
          "Content-Type: application/json; charset=utf-8\r\n" +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Request-Id: ${requestId}\r\n` +
          "Connection: close\r\n\r\n" +
          body,
      );
    }
    socket.destroy(error);
  };
}

/**
 * Fastify's `serverFactory`: the HTTP server Fastify would make (the same timeouts), whose requests
 * the pass-through lane sees first; what it does not take goes to Fastify's handler. `lane.current`
 * is set once the routes exist and cleared when the server starts closing.
 */
export function laneServerFactory(lane: { readonly current: PassThroughLane | null }) {
  return (
    fastify: (request: IncomingMessage, response: ServerResponse) => void,
    options: FastifyServerOptions & { readonly http?: ServerOptions },
  ): Server => {
    const server = createServer(options.http ?? {}, (request, response) => {
      if (lane.current?.handle(request, response) !== true) {
        fastify(request, response);
      }
    });
    server.keepAliveTimeout = options.keepAliveTimeout ?? KEEP_ALIVE_TIMEOUT_MS;
    server.requestTimeout = options.requestTimeout ?? 0;
    server.setTimeout(options.connectionTimeout ?? 0);
    return server;
  };
}
