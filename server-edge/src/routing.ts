/**
 * The Worker's typed route builder: every operation of the spec registered on itty-router at its
 * path, in spec order, with its handler typed by its operation (see test/routing.test-d.ts).
 */

import {
  type AnyHandler,
  type AnyResult,
  type EdgeHttpOperationId,
  type Handler,
  httpOperationIds,
  type OperationSpec,
  operationIds,
  operations,
} from "@n2store/generated";
import type { RouterType } from "itty-router";

/** One handler per operation the edge Worker serves, each typed by its operation. */
export type IttyHandlers<Ctx> = { readonly [Op in EdgeHttpOperationId]: Handler<Op, Ctx> };

/**
 * An itty-router route handler with the Worker's request type and fetch arguments. It gives the
 * result; the router's `finally` stage turns it into the Response.
 */
type IttyRouteHandler<Req, Args extends unknown[]> = (
  request: Req,
  ...args: Args
) => AnyResult | Promise<AnyResult>;

/** How the Worker turns an operation and its handler into an itty-router route handler. */
export interface IttyAdapter<Ctx, Req, Args extends unknown[]> {
  /** Parses and validates the request and runs the handler. */
  serve(operation: OperationSpec, handler: AnyHandler<Ctx>): IttyRouteHandler<Req, Args>;
  /** Answers an operation this runtime does not serve (501 NOT_SERVED_BY_RUNTIME). */
  notServed(operation: OperationSpec): IttyRouteHandler<Req, Args>;
}

/**
 * Registers every operation of the spec on `router`, at its itty-router path, in spec order:
 * served ones with their handler, the rest (and WebSocket operations) with the adapter's 501.
 */
export function registerIttyRoutes<Ctx, Req, Args extends unknown[]>(
  router: RouterType<Req, Args>,
  handlers: IttyHandlers<Ctx>,
  adapter: IttyAdapter<Ctx, Req, Args>,
): void {
  const served = handlers as unknown as Readonly<Record<string, AnyHandler<Ctx>>>;
  const http = new Set<string>(httpOperationIds);
  for (const id of operationIds) {
    const operation: OperationSpec = operations[id];
    const handler = served[id];
    const route =
      http.has(id) && operation.runtimes.includes("edge") && handler !== undefined
        ? adapter.serve(operation, handler)
        : adapter.notServed(operation);
    router[operation.method.toLowerCase() as "get" | "post" | "put" | "patch" | "delete"](
      operation.ittyPath,
      route,
    );
  }
}
