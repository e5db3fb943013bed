import { ApiError, errorResult } from "@n2store/core";
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { sendResult } from "../adapter/reply.js";

/** Fastify's own errors (body parsing, limits) as the gateway's error codes. */
function fromFastify(error: FastifyError): ApiError | FastifyError {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError("PAYLOAD_TOO_LARGE", "The request body is larger than this operation accepts.", {
        nothingSent: true,
      });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json.", {
        nothingSent: true,
      });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError("MALFORMED_BODY", "The body is empty but Content-Type says JSON.", {
        nothingSent: true,
      });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new ApiError("MALFORMED_BODY", "The body is not valid JSON.", { nothingSent: true });
    default:
      if (
        error instanceof SyntaxError ||
        (error.statusCode === 400 && error.code?.startsWith("FST_ERR_CTP"))
      ) {
        return new ApiError("MALFORMED_BODY", "The body is not valid JSON.", { nothingSent: true });
      }
      return error;
  }
}

/** Every error Fastify itself reports, and every unknown route, in the one error shape. */
export const errorsPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) =>
      sendResult(reply, errorResult(fromFastify(error), { log: request.log, requestId: request.id })),
    );
    app.setNotFoundHandler((request, reply) =>
      sendResult(
        reply,
        errorResult(
          new ApiError(
            "ROUTE_NOT_FOUND",
            `No operation answers ${request.method} ${request.url.split("?", 1)[0]}.`,
          ),
          { log: request.log, requestId: request.id },
        ),
      ),
    );
  },
  { name: "n2store-errors", fastify: "5.x" },
);
