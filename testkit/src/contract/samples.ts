import type { Schema } from "@n2store/generated";

/**
 * A Health body the spec accepts, as the Node server answers it: for tests that need one valid
 * response body (the validator's, and the route builders' type tests on both runtimes).
 */
export const HEALTH_SAMPLE: Schema<"Health"> = {
  status: "ok",
  runtime: "node",
  version: "1.0.0",
  time: "2026-11-25T10:00:00.000Z",
};
