import { API_VERSION } from "@n2store/generated";
import type { NodeHandler, SharedHandler } from "../deps.js";

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

const VIETNAM_OFFSET_MS = 7 * 60 * 60 * 1000;

/** GET /api/debug/time: the server clock in the original fallback's fields. */
export const getServerTime: NodeHandler<"getServerTime"> = async (_input, deps) => {
  const now = new Date(deps.clock.now());
  const vietnam = new Date(now.getTime() + VIETNAM_OFFSET_MS).toISOString().replace("Z", "+07:00");
  return {
    status: 200,
    headers: { "cache-control": "no-store" },
    body: {
      utc: now.toISOString(),
      unix_timestamp: now.getTime(),
      unix_seconds: Math.floor(now.getTime() / 1000),
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      timezone_offset_minutes: -now.getTimezoneOffset(),
      server_time_string: now.toString(),
      vietnam_time: vietnam,
    },
  };
};
