import { OPERATION_FLAGS, OperationFlag, POLICY_METHODS } from "@n2store/generated/policy";
import { cancel, notSent } from "./attempt.js";
import { N2StoreNetworkError, type NetworkFailure } from "./errors.js";
import {
  type CallOptions,
  type ClientState,
  EngineEvent,
  type FailoverEvent,
  type FailoverOptions,
  type Runtime,
  type ServerConfig,
  type ServerEvent,
  type ServerState,
} from "./options.js";
import { Backoff, retryAfter } from "./policy/backoff.js";
import { failure, healthy } from "./policy/breaker.js";
import { allows, refill } from "./policy/budget.js";
import { createProber } from "./policy/probe.js";
import { emitter, now } from "./util.js";

/** openapi-fetch builds each Request on this origin; the engine swaps in the chosen server's base URL. */
export const BASE = "http://n2store.invalid";
/**
 * Where a client keeps its engine's `send`, for `createFailoverFetch(client)`. A registered symbol,
 * so that a client made by another copy of the SDK (a script tag and a bundle) is still recognised.
 */
export const ENGINE = Symbol.for("n2store");
const IK = "idempotency-key";

/**
 * A v4 UUID. `randomUUID` exists only in secure contexts (a shop page on plain http has none), so the
 * fallback is 128 random bits in a form the spec's key pattern accepts (printable ASCII, 8+ chars).
 */
const uuid = (): string =>
  crypto.randomUUID?.() ?? `k${crypto.getRandomValues(new Uint32Array(4)).join("-")}`;

/**
 * A server's place in one call: tried (going back to it takes a backoff) or skipped (it does not
 * serve the operation); no mark while not tried yet. An enum, which esbuild inlines.
 */
enum Mark {
  Tried = 1,
  Skipped = 2,
}

/** Whether a server of known runtime serves an operation; one of unknown runtime may. */
const serves = (s: ServerState, flags: number) =>
  !s.runtime || flags & (s.runtime === "edge" ? OperationFlag.Edge : OperationFlag.Node);

/**
 * The failover engine: it is the `fetch` that openapi-fetch calls once per logical call (anchors
 * §12). It composes the policies of `policy/`, each working on the servers' {@link ServerState}:
 * the breaker (down, half-open), the retry budget, the backoff (and the servers' Retry-After) and
 * the health prober. What is left here is the call itself: which server next, and what an answer
 * means for the call.
 */
export function createFailover(o: FailoverOptions) {
  const {
    fetch: given = (r: Request) => globalThis.fetch(r),
    timeoutMs = 30_000,
    attemptTimeoutMs = 10_000,
    maxAttempts = 3,
    downAfter = 3,
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
  const [on, emit] = emitter();
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
  const [probe, called, failed, close] = createProber(
    (s) => healthy(s, downAfter, emit),
    servers,
    fetchFn,
    o,
  );
  let active: string | undefined;

  /** A failure of the server: it costs a token, counts towards down, and wakes the ones after it. */
  const fail = (s: ServerState) => {
    refill(s, -1, maxTokens);
    failure(s, downAfter, emit);
    failed(s);
  };

  /**
   * Sends one logical call. `init` is the caller's init with its CallOptions; its RequestInit
   * extras (credentials, cache, ...) are passed on, and `new Request` ignores the other keys. With
   * `duplex` (a stream body) the body is sent as it comes, once: a stream cannot be sent again, so
   * the call never moves. `flags` and `path` default to the typed client's: the operation's
   * OperationFlag digit, and `req.url` below BASE.
   */
  const send = async (
    method: string,
    template: string,
    req: Request,
    init: CallOptions & { duplex?: string | undefined },
    // An operation the spec does not have (reachable only through a cast): both runtimes, and
    // non-idempotent, the safe assumption.
    flags = parseInt(OPERATION_FLAGS[template]?.[POLICY_METHODS.indexOf(method)] as string, 16) ||
      OperationFlag.Edge | OperationFlag.Node,
    path = req.url.slice(BASE.length),
  ): Promise<Response> => {
    called();
    const operation = `${method} ${template}`;
    // Served by one runtime only (a runtime bit is missing): a server of unknown runtime must be
    // asked before it gets the call.
    const partial = ~flags & (OperationFlag.Edge | OperationFlag.Node);
    const headers = new Headers(req.headers);
    const key = init.idempotencyKey;
    const acceptsKey = flags & OperationFlag.AcceptsKey;
    if (key || (acceptsKey && key !== false && o.idempotencyKeys !== false && !headers.has(IK))) {
      // One key for every attempt on every server: the shared key store runs the call at most once.
      headers.set(IK, key || uuid());
    }
    // May the call go to another server after it may have reached one (RFC 9110 §9.2.2)? A key
    // counts only where the servers keep keys: elsewhere they would run the call twice.
    const safe = flags & OperationFlag.Idempotent || (headers.has(IK) && acceptsKey);
    const once = init.duplex;
    // Read with arrayBuffer(), not through `body`: Firefox has no Request.body. Empty is none, as
    // the caller sent it (a GET cannot have one; a DELETE with none must not get a Content-Length).
    const buf = !once && (await req.arrayBuffer());
    const body = buf ? (buf.byteLength ? buf : null) : req.body;
    const signal = req.signal;
    const deadline = now() + (init.timeoutMs ?? timeoutMs);
    const marks = new Map<ServerState, Mark>();
    const urls: string[] = [];
    let res: Response | undefined;
    let cause: unknown;
    let maybe = false;
    let wait = 0;
    let failure: NetworkFailure = "network";

    /**
     * The next server: untried healthy ones in order, then untried down or cooling ones (panic
     * mode beats failing fast), then tried ones again after a backoff. A move that is not free
     * needs the target's retry budget.
     */
    const pick = async (charged: unknown): Promise<ServerState | undefined> => {
      for (const rank of [0, 1, 2]) {
        for (const s of servers) {
          const t = now();
          const mark = marks.get(s);
          // What the server asked for (Retry-After), and going back to a tried one: the backoff.
          const w = Math.max(
            s.coolingUntil - t,
            mark ? Math.random() * Math.min(Backoff.CapMs, Backoff.BaseMs * 2 ** urls.length) : 0,
          );
          if (
            mark === Mark.Skipped ||
            rank !== (mark ? 2 : s.down || s.coolingUntil > t ? 1 : 0) ||
            (charged && !allows(s, maxTokens)) ||
            t + w >= deadline
          ) {
            continue;
          }
          if (!s.runtime && partial && !(await probe(s))) {
            // Cannot tell whether it serves this operation, and it does not answer: a failure.
            fail(s);
          } else if (serves(s, flags)) {
            // At least what a server asked for (IDEMPOTENCY_KEY_IN_USE), at least the backoff.
            wait = Math.max(wait, w);
            return s;
          }
          // It does not serve the operation (known, or just learnt): not again in this call.
          marks.set(s, Mark.Skipped);
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
      const r: Response | { e: unknown } = await (async () => {
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
      })().catch((e: unknown) => ({ e }));
      clearTimeout(t);
      // The attempt's own limit cut it short (only microtasks ran since it settled: no timer fired).
      const timedOut = c.signal.aborted;
      urls.push(s.url);
      marks.set(s, Mark.Tried);
      const answered = r instanceof Response;
      const proof = !answered && !timedOut && notSent(r.e);
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
            s.runtime = flags & OperationFlag.Edge ? "node" : "edge";
          }
          marks.set(s, Mark.Skipped);
          move = true;
          charged = false;
        } else if (code === "IDEMPOTENCY_KEY_IN_USE") {
          // The first attempt still runs somewhere; the key store is shared, so ask again shortly
          // (100 ms doubling per attempt, unless the server says when).
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
          refill(s, tokenRatio, maxTokens);
          active = s.url;
          healthy(s, downAfter, emit);
          move = false;
        }
        cancel(res);
        res = r;
      } else {
        fail(s);
        cause = r.e;
        failure = timedOut ? "timeout" : "network";
        if (!proof) {
          reason = failure;
        }
      }
      if (!move || once || urls.length >= maxAttempts || urls.length > 4) {
        break;
      }
      const prev = s;
      s = await pick(charged);
      if (s && now() + wait >= deadline) {
        s = undefined;
      }
      if (s && s !== prev) {
        emit(EngineEvent.Failover, { from: prev.url, to: s.url, operation, reason });
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
    onFailover: (fn: (e: FailoverEvent) => void) => on(EngineEvent.Failover, fn),
    onDown: (fn: (e: ServerEvent) => void) => on(EngineEvent.Down, fn),
    onRecover: (fn: (e: ServerEvent) => void) => on(EngineEvent.Recover, fn),
    /** Base URLs of the servers of one runtime, in order; probes servers whose runtime is unknown. */
    serversFor: async (runtime: Runtime): Promise<string[]> => {
      await Promise.all(servers.map((s) => s.runtime || probe(s)));
      return servers.filter((s) => s.runtime === runtime).map((s) => s.url);
    },
    close,
  };
  return [send, api] as const;
}
