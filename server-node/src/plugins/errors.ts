import {
  ApiError,
  errorResult,
  JSON_BODY_LIMIT,
  malformedJson,
  payloadTooLarge,
  routeNotFound,
  unsupportedMediaType,
} from "@n2store/core";
import { type OperationId, operations } from "@n2store/generated";
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { sendResult } from "../adapter/reply.js";

/** The media types the request's operation takes (its route carries the operation id). */
function acceptedTypes(request: FastifyRequest): readonly string[] {
  const id = (request.routeOptions.config as { operationId?: OperationId } | undefined)?.operationId;
  return (id === undefined ? undefined : operations[id]?.body?.contentTypes) ?? ["application/json"];
}

/**
 * Fastify's own errors (body parsing, limits) as the gateway's error codes, in the words the edge
 * uses for the same refusal. Parsed bodies (JSON, form) have Fastify's bodyLimit, JSON_BODY_LIMIT.
 */
function fromFastify(error: FastifyError, request: FastifyRequest): ApiError | FastifyError {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return payloadTooLarge(JSON_BODY_LIMIT);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return unsupportedMediaType(acceptedTypes(request));
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError("MALFORMED_BODY", "The body is empty but Content-Type says JSON.", {
        nothingSent: true,
      });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return malformedJson();
    default:
      if (
        error instanceof SyntaxError ||
        (error.statusCode === 400 && error.code?.startsWith("FST_ERR_CTP"))
      ) {
        return malformedJson();
      }
      return error;
  }
}

/** Every error Fastify itself reports, and every unknown route, in the one error shape. */
export const errorsPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) =>
      sendResult(
        reply,
        errorResult(fromFastify(error, request), { log: request.log, requestId: request.id }),
      ),
    );
    app.setNotFoundHandler((request, reply) =>
      sendResult(
        reply,
        errorResult(routeNotFound(request.method, request.url.split("?", 1)[0] ?? "/"), {
          log: request.log,
          requestId: request.id,
        }),
      ),
    );
  },
  { name: "n2store-errors", fastify: "5.x" },
);
