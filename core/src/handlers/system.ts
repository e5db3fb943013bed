import { API_VERSION } from "@n2store/generated";
import type { SharedHandler } from "../deps.js";

/** GET /health: this server's runtime, version and time, plus what the runtime adds (database, realtime). */
export const getHealth: SharedHandler<"getHealth"> = async (_input, deps) => {
  const extra = await deps.describeRuntime();
  const degraded = extra.database?.reachable === false;
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
