import type { Handler, OperationId, Runtime, Schema } from "@n2store/generated";
import type { Kysely } from "kysely";
import type { Config } from "./config.js";
import type { Database } from "./db/schema.js";
import type { CallProgress } from "./idempotency/progress.js";
import type { IdempotencyStore } from "./idempotency/store.js";
import type { FailureLimiter } from "./limits/failure-limiter.js";
import type { ImageResizer } from "./ports/image-resizer.js";
import type { Clock, Logger } from "./ports/runtime.js";
import type { Upstream } from "./ports/upstream.js";
import type { TposAppVersion } from "./tpos/app-version.js";
import type { TokenCache } from "./tpos/token-cache.js";

/** What a runtime adds to `/health`. */
export type RuntimeHealth = Pick<
  Schema<"Health">,
  "instanceId" | "uptimeSeconds" | "database" | "realtime" | "idempotencyStore"
>;

/** Everything a shared handler may use; both adapters build one per request. */
export interface SharedDeps {
  readonly config: Config;
  readonly upstream: Upstream;
  readonly clock: Clock;
  readonly log: Logger;
  readonly requestId: string;
  readonly runtime: Runtime;
  /** TPOS tokens, per credential; one cache per process or isolate. */
  readonly tokens: TokenCache;
  readonly tposAppVersion: TposAppVersion;
  /** Failed credential checks per client (wrong keys, refused TPOS passwords); one per process or isolate. */
  readonly failures: FailureLimiter;
  /** The caller's address (TRUST_PROXY on Node, CF-Connecting-IP on the edge); the limiter's key. */
  readonly clientAddress?: string;
  /** The idempotency store both runtimes share; null when this runtime has none configured. */
  readonly idempotency: IdempotencyStore | null;
  /**
   * The checkpoints of a keyed call (present only under an Idempotency-Key): a handler that makes
   * several upstream calls records each one, and skips those an earlier attempt recorded.
   */
  readonly progress?: CallProgress;
  /**
   * Re-encodes images for `/api/image-proxy?w=&q=` (sharp on Node); absent on the edge, which asks
   * `NODE_SERVER_URL` instead or serves the original.
   */
  readonly imageResizer?: ImageResizer;
  /** Aborted when the caller goes away. */
  readonly signal?: AbortSignal;
  readonly describeRuntime: () => Promise<RuntimeHealth>;
  /**
   * Keeps work going after the response is sent (the Worker's ctx.waitUntil); without it the work
   * simply runs on, which is what a Node process does.
   */
  readonly defer?: (work: Promise<unknown>) => void;
}

/** The realtime relay's control surface, implemented by the Node server. */
export interface RealtimeControl {
  start(request: Schema<"RealtimeStartRequest">): Promise<Schema<"RealtimeStatus">>;
  stop(): Promise<Schema<"RealtimeStatus">>;
  status(): Promise<Schema<"RealtimeStatus">>;
}

/** What the Node-only handlers use on top of the shared dependencies. */
export interface NodeDeps extends SharedDeps {
  readonly db: Kysely<Database>;
  readonly realtime: RealtimeControl;
  /** Tells every instance's browser sockets about an event (PostgreSQL NOTIFY). */
  readonly publish: (message: Schema<"RealtimeServerMessage">) => Promise<void>;
}

/** A handler that needs only what both runtimes have. */
export type SharedHandler<Op extends OperationId> = Handler<Op, SharedDeps>;
/** A handler of an operation only the Node server serves. */
export type NodeHandler<Op extends OperationId> = Handler<Op, NodeDeps>;
