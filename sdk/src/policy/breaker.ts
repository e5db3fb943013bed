import { EngineEvent, type ServerState } from "../options.js";
import { type Emit, now } from "../util.js";

/**
 * The circuit of each base URL, kept on its {@link ServerState} (Envoy's outlier ejection on
 * consecutive failures). `downAfter` failures in a row mark a server down: it is then skipped while
 * another server can take the call, and probed in the background (`policy/probe.ts`).
 *
 * Plain functions of the server's state, not a class or a factory: the SDK ships to browsers, and
 * a minifier shortens local names and parameters but not property names.
 */

/**
 * The server answered well (a call, or a health probe). A down server comes back half-open: its
 * count stays one short of the limit, so that a single further failure marks it down again instead
 * of a new run of `downAfter` failures, each of which may cost a caller an attempt timeout.
 */
export const healthy = (s: ServerState, downAfter: number, emit: Emit) => {
  s.lastSeen = now();
  if (s.down) {
    s.down = false;
    s.failures = downAfter - 1;
    emit(EngineEvent.Recover, { url: s.url });
  }
};
/** One more failure in the run (no answer, or 502-504); at `downAfter` the server is marked down. */
export const failure = (s: ServerState, downAfter: number, emit: Emit) => {
  if (++s.failures >= downAfter && !s.down) {
    s.down = true;
    emit(EngineEvent.Down, { url: s.url });
  }
};
