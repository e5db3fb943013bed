// The public shapes of the failover engine: its options, per-call options, state and events, in a
// module of their own, so that each policy module can name them without importing the engine.

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

/** The engine's events, as keys of its emitter: an enum, so that the bundle holds digits, not names. */
export enum EngineEvent {
  Failover,
  Down,
  Recover,
}
