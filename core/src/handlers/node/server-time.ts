import type { NodeHandler } from "../../deps.js";

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
