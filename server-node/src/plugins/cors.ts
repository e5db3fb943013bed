import { type Config, corsHeaders, preflightHeaders } from "@n2store/core";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/**
 * The CORS headers of every response, by the request's Origin. With CORS_ALLOWED_ORIGINS=* they do
 * not depend on the request, so they are built once.
 */
export function corsFor(config: Config): (origin: string | undefined) => Record<string, string> {
  if (config.corsAllowedOrigins === null) {
    const fixed = corsHeaders(undefined, config);
    return () => fixed;
  }
  return (origin) => corsHeaders(origin, config);
}

/** CORS from CORS_ALLOWED_ORIGINS on every response, and the preflight answer (204) on any path. */
export const corsPlugin = fp(
  async (app: FastifyInstance, options: { config: Config }) => {
    const cors = corsFor(options.config);
    // A callback hook, not an async one: it runs on every request, and saves a promise per request.
    app.addHook("onRequest", (request, reply, done) => {
      reply.headers(cors(request.headers.origin));
      reply.header("x-request-id", request.id);
      done();
    });
    app.options("*", async (request, reply) => {
      reply.headers(preflightHeaders(request.headers.origin, options.config));
      return reply.code(204).send();
    });
  },
  { name: "n2store-cors", fastify: "5.x" },
);
