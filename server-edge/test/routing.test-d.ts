/**
 * Type tests of the Worker's route builder (routing.ts), checked by `tsc` (npm run typecheck): a
 * handler that returns a status or body the spec does not declare does not compile, and the builder
 * has no slot for an operation the edge does not serve.
 */
import { HEALTH_SAMPLE } from "@n2store/testkit/contract";
import type { IttyHandlers } from "../src/routing.js";

interface Ctx {
  readonly requestId: string;
}

const health = HEALTH_SAMPLE;

// What compiles: the declared status with the declared body.
export const ittyOk: Pick<IttyHandlers<Ctx>, "getHealth"> = {
  getHealth: async () => ({ status: 200, body: { ...health, runtime: "edge" } }),
};

// A status the spec does not declare for getHealth.
export const ittyWrongStatus: Pick<IttyHandlers<Ctx>, "getHealth"> = {
  // @ts-expect-error 201 is not a response of getHealth
  getHealth: async () => ({ status: 201, body: health }),
};

// A body that is not the declared schema.
export const ittyWrongBody: Pick<IttyHandlers<Ctx>, "getHealth"> = {
  // @ts-expect-error a Health body needs runtime and version
  getHealth: async () => ({ status: 200, body: { status: "ok", time: health.time } }),
};

// No slot for an operation the edge does not serve.
export const ittyNodeOnly: Partial<IttyHandlers<Ctx>> = {
  // @ts-expect-error listCustomers is served by the Node server only
  listCustomers: async () => ({ status: 200, body: { items: [], page: 1, limit: 20, total: 0 } }),
};
