import type { Config, UpstreamFailureKind } from "@n2store/core";
import { type AnyResult, type OperationId, type OperationSpec, operationIds } from "@n2store/generated";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { BoundCounter, BoundHistogram, type CounterSeries, type HistogramSeries } from "./metric-series.js";

/** Seconds; from a cached answer (~1 ms) to an upstream near its timeout (15 s). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The `operation` label of requests no operation answered. */
const UNMATCHED = "unmatched";
/** The `operation` label of CORS preflights (answered for every path, never an operation). */
const PREFLIGHT = "corsPreflight";

/** The upstream states the realtime gauge reports (PhoenixState). */
const REALTIME_STATES = ["stopped", "connecting", "connected", "reconnecting"] as const;

/** Outcomes of an upstream call that got no response. */
const FAILURES: readonly UpstreamFailureKind[] = ["unreachable", "reset", "timeout", "blocked", "too-large"];

/** What the scrape-time gauges read (the server's live objects). */
export interface MetricSources {
  readonly browserSockets: () => number;
  readonly realtime: () => { state: string; isLeader: boolean };
  /** The PostgreSQL pool; null on PGlite, which has one session and no pool. */
  readonly pool: () => { total: number; idle: number; waiting: number; max: number } | null;
}

type CounterChild = ReturnType<Counter<string>["labels"]>;

/**
 * The counters of one operation (or of the unmatched requests), bound once: a request adds to them
 * without building a label set. A status is bound the first time it is seen.
 */
export class OperationMetrics {
  private readonly byStatus = new Map<number, CounterSeries>();

  constructor(
    private readonly operation: string,
    private readonly requests: BoundCounter,
    private readonly duration: HistogramSeries,
  ) {}

  /** One answered request: its status and how long it took, in milliseconds. */
  observe(status: number, milliseconds: number): void {
    let child = this.byStatus.get(status);
    if (child === undefined) {
      child = this.requests.labels({ operation: this.operation, status: String(status) });
      this.byStatus.set(status, child);
    }
    child.inc();
    this.duration.observe(milliseconds / 1000);
  }
}

/**
 * A counter of what happened, by `subject` and `outcome`, and a histogram of how long it took, by
 * `subject`: the pair both requests and upstream calls are measured with.
 */
function countedAndTimed(
  registers: Registry[],
  names: { total: string; totalHelp: string; seconds: string; secondsHelp: string },
): [BoundCounter, BoundHistogram] {
  return [
    new BoundCounter(names.total, names.totalHelp, registers),
    new BoundHistogram(names.seconds, names.secondsHelp, DURATION_BUCKETS, registers),
  ];
}

/**
 * A counter by `result`, one child per result (`results` maps each field to its label), each zeroed
 * so that every result is exported before it first happens.
 */
function resultCounter<Field extends string>(
  registers: Registry[],
  name: string,
  help: string,
  results: Record<Field, string>,
): Record<Field, CounterChild> {
  const counter = new Counter({ name, help, labelNames: ["result"], registers });
  const children = {} as Record<Field, CounterChild>;
  for (const field of Object.keys(results) as Field[]) {
    children[field] = counter.labels(results[field]);
    children[field].inc(0);
  }
  return children;
}

/** The counters of one upstream, an outcome per status class and per failure kind, bound once. */
class UpstreamMetrics {
  /** By status / 100: 1xx to 5xx. */
  private readonly byClass: CounterSeries[];
  private readonly byFailure: Map<string, CounterSeries>;
  private readonly other: CounterSeries;

  constructor(
    upstream: string,
    calls: BoundCounter,
    private readonly duration: HistogramSeries,
  ) {
    // Every series from zero (bound now), so that a first failure is an increase Prometheus can see.
    const series = (outcome: string) => calls.labels({ upstream, outcome });
    const byClass = ["2xx", "3xx", "4xx", "5xx"].map(series);
    this.byFailure = new Map(FAILURES.map((kind) => [kind, series(kind)]));
    this.other = series("error");
    // Index 0 and 1 (no final response is 1xx) count as "error"; 2 to 5 are the status classes.
    this.byClass = [this.other, this.other, ...byClass];
  }

  answered(status: number, milliseconds: number): void {
    (this.byClass[Math.trunc(status / 100)] ?? this.other).inc();
    this.duration.observe(milliseconds / 1000);
  }

  failed(kind: string): void {
    (this.byFailure.get(kind) ?? this.other).inc();
  }
}

/**
 * The Node server's metrics in one prom-client registry (per app, so that tests can build several):
 * what every request costs is bound ahead (per operation, per upstream), so a request only adds to
 * numbers; the gauges are read from the live objects when Prometheus scrapes.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly operations = new Map<string, OperationMetrics>();
  private readonly unmatched: OperationMetrics;
  private readonly preflight: OperationMetrics;
  private readonly upstreams = new Map<string, UpstreamMetrics>();
  private readonly otherUpstream: UpstreamMetrics;
  private sources: MetricSources | undefined;

  /** TPOS tokens served from the per-credential cache, and fetched from TPOS. */
  readonly tokenCache: { readonly hit: CounterChild; readonly miss: CounterChild };
  /** Keyed non-idempotent calls answered from the store, and refused as conflicts (409, 422). */
  readonly idempotency: {
    readonly replayed: CounterChild;
    readonly inUse: CounterChild;
    readonly reused: CounterChild;
  };
  /** SePay deliveries stored, and redeliveries of a transaction already stored. */
  readonly sepay: { readonly recorded: CounterChild; readonly duplicate: CounterChild };

  constructor(
    config: Pick<
      Config,
      "tposBaseUrl" | "pancakeBaseUrl" | "pancakePublicBaseUrl" | "pancakeContentBaseUrl" | "graphBaseUrl"
    >,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    const [requests, duration] = countedAndTimed(registers, {
      total: "n2store_http_requests_total",
      totalHelp: "Requests answered, by operation (operationId of the spec) and status.",
      seconds: "n2store_http_request_duration_seconds",
      secondsHelp:
        "Time from a request's arrival to the end of its answer (streamed bodies included), by operation.",
    });
    const bind = (operation: string) =>
      new OperationMetrics(operation, requests, duration.labels({ operation }));
    for (const id of operationIds) {
      this.operations.set(id, bind(id));
    }
    this.unmatched = bind(UNMATCHED);
    this.preflight = bind(PREFLIGHT);

    const [calls, upstreamDuration] = countedAndTimed(registers, {
      total: "n2store_upstream_requests_total",
      totalHelp: "Calls to upstreams, by upstream and outcome (the status class, or why no answer came).",
      seconds: "n2store_upstream_request_duration_seconds",
      secondsHelp: "Time until an upstream's response headers arrived, by upstream.",
    });
    const named: [string, URL][] = [
      ["tpos", config.tposBaseUrl],
      ["pancake", config.pancakeBaseUrl],
      ["pages_fm", config.pancakePublicBaseUrl],
      ["pancake_content", config.pancakeContentBaseUrl],
      ["graph", config.graphBaseUrl],
    ];
    const upstream = (name: string) =>
      new UpstreamMetrics(name, calls, upstreamDuration.labels({ upstream: name }, { zeroed: true }));
    for (const [name, url] of named) {
      if (!this.upstreams.has(url.origin)) {
        this.upstreams.set(url.origin, upstream(name));
      }
    }
    // Hosts callers choose (the proxy, images, avatars' CDNs): one label, so callers cannot grow the series.
    this.otherUpstream = upstream("other");

    this.tokenCache = resultCounter(
      registers,
      "n2store_tpos_token_cache_total",
      "TPOS tokens answered from this instance's cache (hit) or fetched from TPOS (miss).",
      { hit: "hit", miss: "miss" },
    );
    this.idempotency = resultCounter(
      registers,
      "n2store_idempotency_total",
      "Keyed non-idempotent calls answered from the store (replayed) or refused: key_in_use (409, still running), key_reused (422, another request).",
      { replayed: "replayed", inUse: "key_in_use", reused: "key_reused" },
    );
    this.sepay = resultCounter(
      registers,
      "n2store_sepay_deliveries_total",
      "SePay webhook deliveries accepted: recorded (a new transaction) or duplicate (one already stored).",
      { recorded: "recorded", duplicate: "duplicate" },
    );

    const read = () => this.sources;
    new Gauge({
      name: "n2store_realtime_browser_sockets",
      help: "Browser WebSockets authenticated on this instance.",
      registers,
      collect() {
        this.set(read()?.browserSockets() ?? 0);
      },
    });
    new Gauge({
      name: "n2store_realtime_leader",
      help: "1 when this instance holds the cluster's Pancake socket (the realtime lock), else 0.",
      registers,
      collect() {
        this.set(read()?.realtime().isLeader === true ? 1 : 0);
      },
    });
    new Gauge({
      name: "n2store_realtime_upstream_state",
      help: "The state of this instance's Pancake socket: 1 for the current state, 0 for the others (stopped when it does not hold it).",
      labelNames: ["state"] as const,
      registers,
      collect() {
        const current = read()?.realtime().state ?? "stopped";
        for (const state of REALTIME_STATES) {
          this.set({ state }, state === current ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "n2store_db_pool",
      help: "The PostgreSQL pool: connections open and idle, the most it opens (max), and queries waiting for a connection. Absent on PGlite, which has no pool.",
      labelNames: ["measure"] as const,
      registers,
      collect() {
        this.reset();
        const pool = read()?.pool();
        if (pool) {
          this.set({ measure: "open" }, pool.total);
          this.set({ measure: "idle" }, pool.idle);
          this.set({ measure: "waiting" }, pool.waiting);
          this.set({ measure: "max" }, pool.max);
        }
      },
    });
  }

  /** Where the gauges read from; set once the server's parts exist. */
  watch(sources: MetricSources): void {
    this.sources = sources;
  }

  /** The counters of an operation; of the unmatched requests for anything else. */
  operation(id: OperationId | string | undefined, method: string): OperationMetrics {
    return (
      (id === undefined ? undefined : this.operations.get(id)) ??
      (method === "OPTIONS" ? this.preflight : this.unmatched)
    );
  }

  /** One upstream call that got its response headers after `milliseconds`. */
  upstreamAnswered(origin: string, status: number, milliseconds: number): void {
    (this.upstreams.get(origin) ?? this.otherUpstream).answered(status, milliseconds);
  }

  /** One upstream call that got no response (UpstreamFailureKind, or "error"). */
  upstreamFailed(origin: string, kind: string): void {
    (this.upstreams.get(origin) ?? this.otherUpstream).failed(kind);
  }

  /** The exposition text and its content type (`text/plain; version=0.0.4; charset=utf-8`). */
  async exposition(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/**
 * What an operation's result tells the metrics beyond its status, chosen once per operation when
 * its route is registered (undefined for the many that tell nothing): whether a TPOS token came from
 * the cache (`x-token-cache`), whether a keyed call was replayed or refused as a conflict, whether a
 * SePay delivery was new or a duplicate.
 */
export function resultRecorder(
  operation: OperationSpec,
  metrics: GatewayMetrics,
): ((result: AnyResult) => void) | undefined {
  if (operation.operationId === "createTposToken") {
    const { hit, miss } = metrics.tokenCache;
    return (result) => {
      const cache = result.headers?.["x-token-cache"];
      if (cache === "hit") {
        hit.inc();
      } else if (cache === "miss") {
        miss.inc();
      }
    };
  }
  if (operation.operationId === "receiveSepayWebhook") {
    const { recorded, duplicate } = metrics.sepay;
    return (result) => {
      if (result.status === 200 && "body" in result) {
        ((result.body as { duplicate?: boolean }).duplicate === true ? duplicate : recorded).inc();
      }
    };
  }
  if (operation.acceptsIdempotencyKey) {
    const { replayed, inUse, reused } = metrics.idempotency;
    return (result) => {
      if (result.headers?.["idempotent-replayed"] === "true") {
        replayed.inc();
      } else if (result.status === 409 || result.status === 422) {
        const code = "body" in result ? (result.body as { code?: unknown }).code : undefined;
        if (code === "IDEMPOTENCY_KEY_IN_USE") {
          inUse.inc();
        } else if (code === "IDEMPOTENCY_KEY_REUSED") {
          reused.inc();
        }
      }
    };
  }
  return undefined;
}
