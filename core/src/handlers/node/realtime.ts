import { withDatabase } from "../../db/errors.js";
import type { NodeHandler } from "../../deps.js";

/** POST /api/realtime/start: store the Pancake credentials and have one instance hold the socket. */
export const startRealtime: NodeHandler<"startRealtime"> = async (input, deps) => ({
  status: 200,
  body: await withDatabase(() => deps.realtime.start(input.body)),
});

/** GET /api/realtime/status: the relay's state as its holder last reported it. */
export const getRealtimeStatus: NodeHandler<"getRealtimeStatus"> = async (_input, deps) => ({
  status: 200,
  body: await withDatabase(() => deps.realtime.status()),
});

/** POST /api/realtime/stop: the holder closes the upstream socket; browser sockets stay open. */
export const stopRealtime: NodeHandler<"stopRealtime"> = async (_input, deps) => ({
  status: 200,
  body: await withDatabase(() => deps.realtime.stop()),
});
