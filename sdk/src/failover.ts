import { OPERATION_FLAGS, POLICY_METHODS } from "@n2store/generated/policy";
import { N2StoreNetworkError, type NetworkFailure } from "./errors.js";
import { emitter, later } from "./util.js";

/** Where a server runs: the edge Worker or a Node server. */
export type Runtime = "edge" | "node";

/** One gateway server. A bare string is `{ url }`. */
export interface ServerConfig {
  /** Base URL, e.g. `https://api.example.com` (a path prefix is kept). */
  url: string;
  /** Skips the lazy `GET /health` that otherwise tells which operations the server serves. */
  runtime?: Runtime;
  /** Probe it every `keepWarmMs` while the app is in use, so a host that sleeps when idle stays awake. */
  keepWarm?: boolean;
}

/** The failover numbers. Every default follows the project's failover anchors unless noted. */
export interface FailoverOptions {
  /** The servers in order of preference: the first healthy one that serves an operation gets the call. */
  servers: readonly (string | ServerConfig)[];
  /** Injected fetch (tests, instrumentation); default `globalThis.fetch` looked up at call time. */
  fetch?: (request: Request) => Promise<Response>;
  /** Deadline of a whole call, all attempts and waits included (default 30 000 ms). */
  timeoutMs?: number;
  /** Limit of one attempt until response headers (default 10 000 ms), cut to what is left of the deadline. */
  attemptTimeoutMs?: number;
  /** Requests per call, the first included (default 3, at most 5). */
  maxAttempts?: number;
  /**
   * Consecutive failures that mark a server down (default 3, not Envoy's 5: a browser makes few calls,
   * and each one that meets a hanging primary costs an attempt timeout).
   */
  downAfter?: number;
  /**
   * Health probe period while a server is down, ±20% jitter (default 5 000 ms). One good probe brings
   * it back, half-open (the anchors' two would take two periods; traffic must return within one).
   */
  probeIntervalMs?: number;
  /** Limit of one health probe (default 2 000 ms). */
  probeTimeoutMs?: number;
  /** No background probes when no call was made for this long (default 60 000 ms). */
  idleAfterMs?: number;
  /** Keep-warm period for servers with `keepWarm` (default 600 000 ms, under common 15-minute idle sleeps). */
  keepWarmMs?: number;
  /** Probe the next servers as soon as one fails, to wake a sleeping fallback early (default true). */
  prewarm?: boolean;
  /** Add an `Idempotency-Key` to every operation that accepts one (default true). */
  idempotencyKeys?: boolean;
  /** Retry budget per server (A6 token bucket): capacity, and tokens a success earns (default 10, 0.1). */
  retryBudget?: { maxTokens?: number; tokenRatio?: number };
}

/** Per-call options, on top of openapi-fetch's. */
export interface CallOptions {
  /** Deadline of this call, all attempts included; overrides the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Use this key (e.g. one kept across page reloads), or `false` to send none. */
  idempotencyKey?: string | false;
}

/** A server as `state()` shows it. */
export interface ServerState {
  url: string;
  /** Unknown until stated in the config or read from `/health`. */
  runtime: Runtime | undefined;
  keepWarm: boolean;
  /** Marked down: skipped while another server can take the call, probed in the background. */
  down: boolean;
  /** Consecutive failures. */
  failures: number;
  /** Epoch ms until which the server asked not to be called (Retry-After); 0 when it never asked. */
  coolingUntil: number;
  /** Retry budget left; retries and failovers to this server stop at half the capacity. */
  retryTokens: number;
  /** Epoch ms of the last answer from it (a call or a probe); 0 before the first. */
  lastSeen: number;
}

/** What the UI can show: which server answered last, and each server's state. */
export interface ClientState {
  /** The base URL of the server that last answered a call successfully. */
  active: string | undefined;
  servers: ServerState[];
}

/** A call moved from one server to another. */
export interface FailoverEvent {
  from: string;
  to: string;
  /** `METHOD /path/template`. */
  operation: string;
  /**
   * What made it move: `not sent` (proven: connection refused, DNS), `timeout`, `network` (a failure
   * that may have reached the server) or `HTTP <status>` (502-504, 429 with Retry-After, 501
   * NOT_SERVED_BY_RUNTIME, 409 IDEMPOTENCY_KEY_IN_USE).
   */
  reason: string;
}

/** A server was marked down, or came back. */
export interface ServerEvent {
  url: string;
}

/** openapi-fetch builds each Request on this origin; the engine swaps in the chosen server's base URL. */
export const BASE = "http://n2store.invalid";
/**
 * Where a client keeps its engine's `send`, for `createFailoverFetch(client)`. A registered symbol,
 * so that a client made by another copy of the SDK (a script tag and a bundle) is still recognised.
 */
export const ENGINE = Symbol.for("n2store");
const IK = "idempotency-key";
type Cause = { code?: unknown; syscall?: unknown; errors?: Cause[] };

/**
 * Whether a fetch rejection proves the request never reached a server (anchors §5). Only Node gives
 * the proof: undici's cause failed in `connect` (ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, connect
 * ETIMEDOUT, ...) or in DNS (`getaddrinfo`: ENOTFOUND, EAI_AGAIN), or is undici's own connect timeout;
 * a happy-eyeballs AggregateError proves it when every address failed so. A browser's bare TypeError
 * never does, so it counts as "maybe delivered"; so do resets, TLS errors and read timeouts.
 */
export const notSent = (e: unknown): boolean => {
  const one = (c?: Cause) =>
    !!c && (/^(connect|getaddrinfo)$/.test(c.syscall as string) || c.code === "UND_ERR_CONNECT_TIMEOUT");
  const c = (e as { cause?: Cause } | null)?.cause;
  return c?.errors?.length ? c.errors.every(one) : one(c);
};

/**
 * openapi-fetch path serializer: encodes every parameter, except that the catch-all parameter keeps
 * its `/` (the servers route it as Fastify `*` / itty `:path+`). A catch-all is the template's last
 * `{path}` (codegen holds the spec to that, so no list of catch-alls ships to browsers).
 */
export const pathSerializer = (url: string, params: Record<string, unknown>): string => {
  const catchAll = url.endsWith("{path}");
  return url.replace(/\{([^}]+)\}/g, (m, name: string, at: number) => {
    const v = params[name];
    if (v == null) {
      return m;
    }
    const e = encodeURIComponent(String(v));
    return catchAll && at + m.length === url.length ? e.replace(/%2F/gi, "/") : e;
  });
};

/**
 * A v4 UUID. `randomUUID` exists only in secure contexts (a shop page on plain http has none), so the
 * fallback is 128 random bits in a form the spec's key pattern accepts (printable ASCII, 8+ chars).
 */
const uuid = (): string =>
  crypto.randomUUID?.() ?? `k${crypto.getRandomValues(new Uint32Array(4)).join("-")}`;

const now = () => Date.now();

/** Discards a response body we will not read, so that Node does not keep its connection busy. */
const cancel = (r?: Response) => void r?.body?.cancel().catch(() => {});

/** Milliseconds a Retry-After header asks for (delta-seconds or HTTP-date); invalid or negative: none. */
const retryAfter = (r: Response): number | undefined => {
  const v = r.headers.get("retry-after");
  const ms = v ? (/^\d+$/.test(v) ? +v * 1000 : Date.parse(v) - now()) : -1;
  return ms >= 0 ? ms : undefined;
};

/** The failover engine: it is the `fetch` that openapi-fetch calls once per logical call (anchors §12). */
export function createFailover(o: FailoverOptions) {
  const {
    fetch: given = (r: Request) => globalThis.fetch(r),
    timeoutMs = 30_000,
    attemptTimeoutMs = 10_000,
    maxAttempts = 3,
    downAfter = 3,
    probeIntervalMs = 5_000,
    probeTimeoutMs = 2_000,
    idleAfterMs = 60_000,
    keepWarmMs = 600_000,
    retryBudget: { maxTokens = 10, tokenRatio = 0.1 } = {},
  } = o;
  /**
   * Sends a Request, keeping it reachable until it settles. Node's fetch (undici) makes a Request's
   * signal follow the given one through weak references: once the Request is garbage, an abort (the
   * attempt timeout, a probe's timeout, the caller's signal) no longer reaches the connection, and
   * a call to a black-holed server hangs for undici's 300 s headers timeout instead of moving on
   * (nodejs/undici#3644; seen in the failover benchmark, reproduced by a test under forced GC).
   */
  const fetchFn = (r: Request) => given(r).finally(() => r);
  const { on, emit } = emitter();
  const probes = new Map<ServerState, Promise<boolean>>();
  // The engine's bookkeeping is the public ServerState itself, so state() is a plain copy.
  const servers: ServerState[] = o.servers.map((c) => {
    const { url, runtime, keepWarm = false } = typeof c === "string" ? ({ url: c } as ServerConfig) : c;
    return {
      url: url.replace(/\/+$/, ""),
      runtime,
      keepWarm,
      down: false,
      failures: 0,
      coolingUntil: 0,
      retryTokens: maxTokens,
      lastSeen: 0,
    };
  });
  let active: string | undefined;
  let lastCall = 0;
  let loop: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const serves = (s: ServerState, flags: number) => !s.runtime || flags & (s.runtime === "edge" ? 1 : 2);

  const up = (s: ServerState) => {
    s.lastSeen = now();
    if (s.down) {
      // Half-open: one more failure marks it down again.
      s.down = false;
      s.failures = downAfter - 1;
      emit("recover", { url: s.url });
    }
  };

  /** `GET /health`: learns the runtime and brings a down server back. Never counted as a failure. */
  const probe = (s: ServerState): Promise<boolean> => {
    const p =
      probes.get(s) ??
      (async () => {
        try {
          // AbortSignal.timeout's timer never keeps a Node process alive.
          const r = await fetchFn(
            new Request(`${s.url}/health`, { signal: AbortSignal.timeout(probeTimeoutMs) }),
          );
          const { runtime } = await r.json();
          if (r.ok) {
            if (runtime === "edge" || runtime === "node") {
              s.runtime = runtime;
            }
            up(s);
            return true;
          }
        } catch {
          // unreachable, too slow, or not the gateway's JSON: not healthy
        }
        return false;
      })().finally(() => probes.delete(s));
    probes.set(s, p);
    return p;
  };

  // One background loop, alive only while a server is down or kept warm, the page is visible and
  // calls are being made (Envoy's no_traffic_interval): an idle or hidden tab sends nothing.
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

  const fail = (s: ServerState) => {
    s.retryTokens = Math.max(0, s.retryTokens - 1);
    if (++s.failures >= downAfter && !s.down) {
      s.down = true;
      emit("down", { url: s.url });
    }
    schedule();
    if (o.prewarm !== false) {
      // Wake the servers after it now, so that a sleeping fallback is up by the time calls need it.
      for (const n of servers.slice(servers.indexOf(s) + 1)) {
        if (!n.down && now() - n.lastSeen > keepWarmMs) {
          void probe(n);
        }
      }
    }
  };

  /**
   * Sends one logical call. `init` is the caller's init with its CallOptions; its RequestInit
   * extras (credentials, cache, ...) are passed on, and `new Request` ignores the other keys. With
   * `duplex` (a stream body) the body is sent as it comes, once: a stream cannot be sent again, so
   * the call never moves. `flags` and `path` default to the typed client's: the operation's policy
   * digit, and `req.url` below BASE.
   */
  const send = async (
    method: string,
    template: string,
    req: Request,
    init: CallOptions & { duplex?: string | undefined },
    // An operation the spec does not have (reachable only through a cast): both runtimes, and
    // non-idempotent, the safe assumption.
    flags = parseInt(OPERATION_FLAGS[template]?.[POLICY_METHODS.indexOf(method)] as string, 16) || 3,
    path = req.url.slice(BASE.length),
  ): Promise<Response> => {
    lastCall = now();
    schedule();
    const operation = `${method} ${template}`;
    // Served by one runtime only: a server of unknown runtime must be asked before it gets the call.
    const partial = (flags & 3) !== 3;
    const headers = new Headers(req.headers);
    const key = init.idempotencyKey;
    if (key || (flags & 8 && key !== false && o.idempotencyKeys !== false && !headers.has(IK))) {
      // One key for every attempt on every server: the shared key store runs the call at most once.
      headers.set(IK, key || uuid());
    }
    const keyed = headers.has(IK);
    // May the call go to another server after it may have reached one (RFC 9110 §9.2.2)? A key
    // counts only where the servers keep keys: elsewhere they would run the call twice.
    const safe = flags & 4 || (keyed && flags & 8);
    const once = init.duplex;
    // Read with arrayBuffer(), not through `body`: Firefox has no Request.body. Empty is none, as
    // the caller sent it (a GET cannot have one; a DELETE with none must not get a Content-Length).
    const buf = !once && (await req.arrayBuffer());
    const body = buf ? (buf.byteLength ? buf : null) : req.body;
    const signal = req.signal;
    const deadline = now() + (init.timeoutMs ?? timeoutMs);
    // 1: tried in this call (going back to it takes a backoff); 2: left out (does not serve the operation).
    const marks = new Map<ServerState, number>();
    const urls: string[] = [];
    let res: Response | undefined;
    let cause: unknown;
    let maybe = false;
    let wait = 0;
    let failure: NetworkFailure = "network";

    /**
     * The next server: untried healthy ones in order, then untried down or cooling ones (panic
     * mode beats failing fast), then tried ones again after a backoff. A move that is not free
     * needs the target's budget above half (A6 retry throttling).
     */
    const pick = async (charged: unknown): Promise<ServerState | undefined> => {
      for (const rank of [0, 1, 2]) {
        for (const s of servers) {
          const t = now();
          const mark = marks.get(s);
          // Full jitter, 50 ms base, 1 s cap (anchors §2), only when going back to a server.
          const w = Math.max(
            s.coolingUntil - t,
            mark ? Math.random() * Math.min(1000, 50 * 2 ** urls.length) : 0,
          );
          if (
            mark === 2 ||
            !serves(s, flags) ||
            rank !== (mark ? 2 : s.down || s.coolingUntil > t ? 1 : 0) ||
            (charged && s.retryTokens <= maxTokens / 2) ||
            t + w >= deadline
          ) {
            continue;
          }
          if (!s.runtime && partial && !(await probe(s))) {
            // Cannot tell whether it serves this operation, and it does not answer: a failure.
            fail(s);
          } else if (serves(s, flags)) {
            wait = w;
            return s;
          }
          marks.set(s, 2);
        }
      }
      return undefined;
    };

    let s = await pick(false);
    // At most `maxAttempts` requests, and never more than 5 (anchors §1), checked before each move.
    while (s && !signal.aborted) {
      if (wait > 0) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, wait);
          signal.addEventListener("abort", () => r(clearTimeout(t)), { once: true });
        });
        wait = 0;
        if (signal.aborted) {
          break;
        }
      }
      const c = new AbortController();
      const t = setTimeout(() => c.abort(), Math.min(attemptTimeoutMs, deadline - now()));
      // The caller's signal stays attached after the response, so aborting also aborts the body.
      // A JSON body is read within the attempt: a server that dies or stalls mid-body is then a
      // failed attempt that may move on, not a "terminated" TypeError out of openapi-fetch's parser.
      // Other bodies (images) stream to the caller as they come.
      const r: Response | { e: unknown; timeout: boolean } = await (async () => {
        const x = await fetchFn(
          new Request(s.url + path, {
            ...init,
            method: req.method,
            headers,
            body,
            signal: AbortSignal.any([signal, c.signal]),
          }),
        );
        return x.body && /json/.test(x.headers.get("content-type") as string)
          ? new Response(await x.arrayBuffer(), x)
          : x;
      })().catch((e: unknown) => ({ e, timeout: c.signal.aborted }));
      clearTimeout(t);
      urls.push(s.url);
      marks.set(s, 1);
      const answered = r instanceof Response;
      const proof = !answered && !r.timeout && notSent(r.e);
      // Anything but a proof of "never left" may have run, answered and aborted attempts included.
      maybe ||= !proof;
      if (signal.aborted) {
        break;
      }
      // A request that provably never left may go elsewhere, idempotent or not, and for free:
      // the next server has not seen it and the first did not run it (A6 transparent retries).
      let move: unknown = proof || safe;
      let charged = !proof;
      let reason = "not sent";
      if (answered) {
        s.lastSeen = now();
        const st = r.status;
        const ra = retryAfter(r);
        reason = `HTTP ${st}`;
        // The codes that change what happens next come with 409 (key in use), 501 (not served here)
        // and 502 (outcome unknown).
        const code =
          st > 408 && st < 503
            ? (
                await r
                  .clone()
                  .json()
                  .catch(() => 0)
              ).code
            : 0;
        if (code === "NOT_SERVED_BY_RUNTIME") {
          // Nothing ran there: move on for free, and remember what it is not.
          if (partial) {
            s.runtime = flags & 1 ? "node" : "edge";
          }
          marks.set(s, 2);
          move = true;
          charged = false;
        } else if (code === "IDEMPOTENCY_KEY_IN_USE") {
          // The first attempt still runs somewhere; the key store is shared, so ask again shortly.
          marks.delete(s);
          move = true;
          charged = false;
          wait = ra ?? 100 * 2 ** urls.length;
        } else if (code === "OUTCOME_UNKNOWN") {
          // The upstream may have run it, and every server answers so for this key: no move, and the
          // caller is told it may have been delivered (README: idempotency).
          cancel(r);
          res = void cancel(res);
          break;
        } else if ((st > 501 && st < 505) || (st === 429 && ra !== undefined)) {
          if (ra !== undefined) {
            // Per server, capped at 5 minutes like Envoy: a Retry-After of a day must not bench it for a day.
            s.coolingUntil = now() + Math.min(ra, 300_000);
          }
          // 429 means "slow down", not "broken": it does not count towards marking the server down.
          if (st !== 429) {
            fail(s);
          }
        } else {
          s.failures = 0;
          s.retryTokens = Math.min(maxTokens, s.retryTokens + tokenRatio);
          active = s.url;
          up(s);
          move = false;
        }
        if (res !== r) {
          cancel(res);
        }
        res = r;
      } else {
        fail(s);
        cause = r.e;
        failure = r.timeout ? "timeout" : "network";
        if (!proof) {
          reason = failure;
        }
      }
      if (!move || once || urls.length >= maxAttempts || urls.length > 4) {
        break;
      }
      const asked = wait;
      const prev = s;
      s = await pick(charged);
      wait = Math.max(wait, asked);
      if (s && now() + wait >= deadline) {
        s = undefined;
      }
      if (s && s !== prev) {
        emit("failover", { from: prev.url, to: s.url, operation, reason });
      }
    }
    if (res && !signal.aborted) {
      return res;
    }
    cancel(res);
    failure = signal.aborted ? "aborted" : now() >= deadline ? "timeout" : failure;
    // Only when every server asked to be left alone is there a time to tell the caller.
    const cool = Math.min(...servers.map((x) => x.coolingUntil)) - now();
    throw new N2StoreNetworkError(
      `${operation}: ${failure}`,
      failure,
      urls,
      maybe,
      cool > 0 ? cool : undefined,
      signal.aborted ? signal.reason : cause,
    );
  };

  const api = {
    state: (): ClientState => ({ active, servers: servers.map((s) => ({ ...s })) }),
    onFailover: (fn: (e: FailoverEvent) => void) => on("failover", fn),
    onDown: (fn: (e: ServerEvent) => void) => on("down", fn),
    onRecover: (fn: (e: ServerEvent) => void) => on("recover", fn),
    /** Base URLs of the servers of one runtime, in order; probes servers whose runtime is unknown. */
    serversFor: async (runtime: Runtime): Promise<string[]> => {
      await Promise.all(servers.map((s) => s.runtime || probe(s)));
      return servers.filter((s) => s.runtime === runtime).map((s) => s.url);
    },
    close: () => {
      closed = true;
      clearTimeout(loop);
    },
  };
  return [send, api] as const;
}
