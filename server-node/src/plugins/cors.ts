import { type Config, corsHeaders, preflightHeaders } from "@n2store/core";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

/** CORS from CORS_ALLOWED_ORIGINS on every response, and the preflight answer (204) on any path. */
export const corsPlugin = fp(
  async (app: FastifyInstance, options: { config: Config }) => {
    // A callback hook, not an async one: it runs on every request, and saves a promise per request.
    // With CORS_ALLOWED_ORIGINS=* the headers do not depend on the request: build them once.
    const fixed = options.config.corsAllowedOrigins === null ? corsHeaders(undefined, options.config) : null;
    app.addHook("onRequest", (request, reply, done) => {
      reply.headers(fixed ?? corsHeaders(request.headers.origin, options.config));
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
