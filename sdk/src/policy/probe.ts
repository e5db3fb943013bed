import type { FailoverOptions, ServerState } from "../options.js";
import { later, now } from "../util.js";

/**
 * Health probing with `GET /health`, which tells a server's runtime and brings a down server back.
 * A probe is never counted as a failure, and at most one per server is in flight.
 *
 * One background loop probes the servers that are down (every `probeIntervalMs`, default 5 000,
 * jittered) and those kept warm (`keepWarm`, every `keepWarmMs`, default 600 000, under common
 * 15-minute idle sleeps). It runs only while it has such a server, the page is visible and calls
 * are being made (Envoy's no_traffic_interval: nothing after `idleAfterMs`, default 60 000, without
 * a call), so that an idle or hidden tab sends nothing; the next call starts it again.
 *
 * `healthy` hears of every good probe (the breaker's, which also notes the time a server was last
 * seen, what keep-warm and pre-warm go by); `send` is the engine's fetch. Returns `[probe, called,
 * failed, close]` (a tuple: property names would ship to browsers unminified):
 * - `probe(s)`: probes one server now, sharing a probe in flight; whether it answered as a healthy
 *   gateway;
 * - `called()`: a call starts, so the app is in use and the loop may run;
 * - `failed(s)`: a server failed. The loop starts if it is now down, and unless `prewarm` is false
 *   the servers after it that have not answered for `keepWarmMs` are probed at once, so that a
 *   fallback that sleeps when idle is awake by the time calls need it;
 * - `close()`: stops the loop for good; probes the engine asks for still run.
 */
export const createProber = (
  healthy: (s: ServerState) => void,
  servers: ServerState[],
  send: (r: Request) => Promise<Response>,
  o: FailoverOptions,
) => {
  const { probeIntervalMs = 5_000, probeTimeoutMs = 2_000, idleAfterMs = 60_000, keepWarmMs = 600_000 } = o;
  const inFlight = new Map<ServerState, Promise<boolean>>();
  let lastCall = 0;
  let loop: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const probe = (s: ServerState): Promise<boolean> => {
    const p =
      inFlight.get(s) ??
      (async () => {
        try {
          // AbortSignal.timeout's timer never keeps a Node process alive.
          const r = await send(
            new Request(`${s.url}/health`, { signal: AbortSignal.timeout(probeTimeoutMs) }),
          );
          const { runtime } = await r.json();
          if (r.ok) {
            if (runtime === "edge" || runtime === "node") {
              s.runtime = runtime;
            }
            healthy(s);
            return true;
          }
        } catch {
          // unreachable, too slow, or not the gateway's JSON: not healthy
        }
        return false;
      })().finally(() => inFlight.delete(s));
    inFlight.set(s, p);
    return p;
  };

  const schedule = () => {
    if (!loop && !closed && servers.some((s) => s.down || s.keepWarm)) {
      loop = later(tick, probeIntervalMs * (0.8 + Math.random() * 0.4));
    }
  };
  const tick = async () => {
    loop = undefined;
    if (globalThis.document?.visibilityState === "hidden" || now() - lastCall > idleAfterMs) {
      return; // the next call starts the loop again
    }
    await Promise.all(
      servers.map((s) => (s.down || (s.keepWarm && now() - s.lastSeen >= keepWarmMs)) && probe(s)),
    );
    schedule();
  };

  return [
    probe,
    () => {
      lastCall = now();
      schedule();
    },
    (s: ServerState) => {
      schedule();
      if (o.prewarm !== false) {
        for (const next of servers.slice(servers.indexOf(s) + 1)) {
          if (!next.down && now() - next.lastSeen > keepWarmMs) {
            void probe(next);
          }
        }
      }
    },
    () => {
      closed = true;
      clearTimeout(loop);
    },
  ] as const;
};
