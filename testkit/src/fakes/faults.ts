/**
 * Fault injection shared by every fake: a test arms a rule ("hang the next 3 requests to /token"),
 * the server plumbing asks for the fault of each incoming request and applies it before routing.
 */

/** One way a fake can misbehave. */
export type Fault =
  /** Delay the response headers by `ms`, then answer normally. */
  | { mode: "slow"; ms: number }
  /** Never answer; the socket stays open until the fake is closed. */
  | { mode: "hang" }
  /** Destroy the socket (TCP RST when possible) without writing a response. */
  | { mode: "reset" }
  /**
   * Answer 200 with a broken body: `"html"` (default) sends non-JSON with a text/html content-type,
   * `"truncated"` starts a chunked JSON body and cuts the connection before the final chunk.
   */
  | { mode: "garbage"; kind?: "html" | "truncated" }
  /** Answer `status` with `body` (objects are sent as JSON) and optional extra headers. */
  | { mode: "status"; status: number; body?: unknown; headers?: Record<string, string> };

/** Which requests a fault rule applies to. */
export interface FaultOptions {
  /** How many matching requests the rule affects; omitted means until `clear()`. */
  times?: number;
  /**
   * Path filter: a string matches as a pathname prefix ("/token", "/odata/Partner"), a RegExp is
   * tested against the pathname, a function gets method and pathname. Omitted means every request.
   */
  match?: string | RegExp | ((method: string, path: string) => boolean);
  /** Only requests with this HTTP method (case-insensitive). */
  method?: string;
}

interface Rule {
  fault: Fault;
  remaining: number;
  options: FaultOptions;
}

/** The handle a test uses to arm and disarm faults on one fake. */
export interface FaultControl {
  /** Arms a rule; rules are checked in the order they were set and the first match wins. */
  set(fault: Fault, options?: FaultOptions): void;
  /** Disarms every rule. */
  clear(): void;
  /** Number of rules still armed (exhausted `times` rules are dropped). */
  readonly active: number;
  /** How many requests a fault has been applied to since creation or `clear()`. */
  readonly applied: number;
  /** Used by the server plumbing: returns and consumes the fault for one request, if any. */
  take(method: string, path: string): Fault | undefined;
}

function matches(options: FaultOptions, method: string, path: string): boolean {
  if (options.method !== undefined && options.method.toUpperCase() !== method.toUpperCase()) {
    return false;
  }
  const m = options.match;
  if (m === undefined) {
    return true;
  }
  if (typeof m === "string") {
    return path.startsWith(m);
  }
  if (m instanceof RegExp) {
    return m.test(path);
  }
  return m(method, path);
}

/** Creates an empty fault controller. */
export function createFaultControl(): FaultControl {
  let rules: Rule[] = [];
  let applied = 0;
  return {
    set(fault, options = {}) {
      // Validate eagerly so a typo in a test fails at the arming site, not deep in a request.
      if (options.times !== undefined && (!Number.isInteger(options.times) || options.times < 1)) {
        throw new RangeError(`fault times must be a positive integer, got ${options.times}`);
      }
      rules.push({ fault, remaining: options.times ?? Number.POSITIVE_INFINITY, options });
    },
    clear() {
      rules = [];
      applied = 0;
    },
    get active() {
      return rules.length;
    },
    get applied() {
      return applied;
    },
    take(method, path) {
      const rule = rules.find((r) => matches(r.options, method, path));
      if (rule === undefined) {
        return undefined;
      }
      rule.remaining -= 1;
      if (rule.remaining <= 0) {
        rules = rules.filter((r) => r !== rule);
      }
      applied += 1;
      return rule.fault;
    },
  };
}
