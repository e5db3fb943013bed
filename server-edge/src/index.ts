import { ApiError, ConfigError, errorResult } from "@n2store/core";
import { toResponse } from "./adapter/reply.js";
import { consoleLogger } from "./logger.js";
import { buildRouter } from "./router.js";

const router = buildRouter();

/** The edge primary: every request goes through the itty router; nothing escapes as an HTML error page. */
export default {
  async fetch(request, env, ctx): Promise<Response> {
    try {
      if (request.method === "HEAD") {
        // HEAD is GET without the body (RFC 9110 9.3.2), as Fastify serves it on the Node server.
        const response = await router.fetch(new Request(request, { method: "GET" }), env, ctx);
        await response.body?.cancel();
        return new Response(null, response);
      }
      return await router.fetch(request, env, ctx);
    } catch (error) {
      const requestId = crypto.randomUUID();
      const apiError =
        error instanceof ConfigError
          ? new ApiError("INTERNAL", `The Worker is misconfigured: ${error.message}`, { cause: error })
          : error;
      return toResponse(errorResult(apiError, { log: consoleLogger(requestId), requestId }), {
        "x-request-id": requestId,
      });
    }
  },
} satisfies ExportedHandler<Env>;
