import { API_VERSION } from "@n2store/generated";
import type { SharedHandler } from "../deps.js";

/**
 * GET /health: this server's runtime, version and time, plus what the runtime adds (database,
 * realtime, idempotency store). Degraded when the database or a configured store does not answer; a
 * Worker deliberately run without a store is not degraded, nor is a relay that is down.
 */
export const getHealth: SharedHandler<"getHealth"> = async (_input, deps) => {
  const extra = await deps.describeRuntime();
  const store = extra.idempotencyStore;
  const degraded = extra.database?.reachable === false || (store?.configured === true && !store.reachable);
  return {
    status: 200,
    headers: { "cache-control": "no-store" },
    body: {
      status: degraded ? "degraded" : "ok",
      runtime: deps.runtime,
      version: API_VERSION,
      time: new Date(deps.clock.now()).toISOString(),
      ...extra,
    },
  };
};
