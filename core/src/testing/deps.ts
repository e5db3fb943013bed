import type { Runtime } from "@n2store/generated";
import { type Env, loadConfig } from "../config.js";
import type { RuntimeHealth, SharedDeps } from "../deps.js";
import type { IdempotencyStore } from "../idempotency/store.js";
import { MemoryFailureLimiter } from "../limits/failure-limiter.js";
import { type Logger, silentLogger } from "../ports/runtime.js";
import type { Upstream } from "../ports/upstream.js";
import { TposAppVersion } from "../tpos/app-version.js";
import { TokenCache } from "../tpos/token-cache.js";
import { FakeUpstream } from "./fake-upstream.js";

/** What a unit test may set on the dependencies a handler or the pipeline gets. */
export interface TestDepsOptions {
  readonly env?: Env;
  readonly upstream?: Upstream;
  /** The clock's time, fixed, or a function for a moving clock (default 2026-11-25 08:00 UTC). */
  readonly now?: number | (() => number);
  readonly runtime?: Runtime;
  readonly log?: Logger;
  readonly requestId?: string;
  readonly idempotency?: IdempotencyStore | null;
  readonly health?: RuntimeHealth;
  readonly clientAddress?: string;
  /** Anything else, as given (a progress port, an image resizer). */
  readonly extra?: Partial<SharedDeps>;
}

/** The dependencies both runtimes build for a request, made for a unit test: in memory, nothing shared. */
export function testDeps(options: TestDepsOptions = {}): SharedDeps {
  const config = loadConfig(options.env ?? {});
  const { now } = options;
  const clock = { now: typeof now === "function" ? now : () => now ?? Date.UTC(2026, 10, 25, 8) };
  return {
    config,
    upstream: options.upstream ?? new FakeUpstream(),
    clock,
    log: options.log ?? silentLogger,
    requestId: options.requestId ?? "req-1",
    runtime: options.runtime ?? "edge",
    tokens: new TokenCache(clock),
    tposAppVersion: new TposAppVersion(config.tposAppVersion),
    failures: new MemoryFailureLimiter(clock),
    clientAddress: options.clientAddress ?? "192.0.2.1",
    idempotency: options.idempotency ?? null,
    describeRuntime: async () => options.health ?? {},
    ...options.extra,
  };
}
