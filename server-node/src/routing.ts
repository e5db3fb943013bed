/**
 * The Node server's typed route builder: every HTTP operation of the spec registered on Fastify at
 * its path, in spec order, with its handler typed by its operation (a handler returning a status or
 * body the spec does not declare does not compile; see test/routing.test-d.ts).
 */

import {
  type AnyHandler,
  type Handler,
  httpOperationIds,
  type NodeHttpOperationId,
  type OperationSpec,
  operations,
} from "@n2store/generated";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** One handler per operation the Node server serves, each typed by its operation. */
export type FastifyHandlers<Ctx> = { readonly [Op in NodeHttpOperationId]: Handler<Op, Ctx> };

/** How the server turns an operation and its handler into a Fastify route handler. */
export interface FastifyAdapter<Ctx> {
  /**
   * Parses and validates the request, runs the handler and writes its result. Resolves with the
   * reply (Fastify's rule for async handlers, so that a streamed body is not ended early).
   */
  serve(
    operation: OperationSpec,
    handler: AnyHandler<Ctx>,
  ): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
  /** Answers an operation this runtime does not serve (501 NOT_SERVED_BY_RUNTIME). */
  notServed(
    operation: OperationSpec,
  ): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
}

/**
 * Registers the HTTP operations of the spec on `app`, at their Fastify paths, in spec order.
 * `include` picks a subset, so that operations with streamed bodies can be registered in their own
 * encapsulated context (with their own content-type parsers).
 */
export function registerFastifyRoutes<Ctx>(
  app: FastifyInstance,
  handlers: FastifyHandlers<Ctx>,
  adapter: FastifyAdapter<Ctx>,
  include: (operation: OperationSpec) => boolean = () => true,
): void {
  const served = handlers as unknown as Readonly<Record<string, AnyHandler<Ctx>>>;
  for (const id of httpOperationIds) {
    const operation: OperationSpec = operations[id];
    if (!include(operation)) {
      continue;
    }
    const handler = served[id];
    app.route({
      method: operation.method,
      url: operation.fastifyPath,
      config: { operationId: id },
      handler:
        operation.runtimes.includes("node") && handler !== undefined
          ? adapter.serve(operation, handler)
          : adapter.notServed(operation),
    });
  }
}
