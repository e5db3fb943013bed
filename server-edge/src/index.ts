import { ApiError, ConfigError, errorResult } from "@n2store/core";
import { toResponse } from "./adapter/reply.js";
import { consoleLogger } from "./logger.js";
import { buildRouter } from "./router.js";

const router = buildRouter();

/** The edge primary: every request goes through the itty router; nothing escapes as an HTML error page. */
export default {
  async fetch(request, env, ctx): Promise<Response> {
    try {
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
