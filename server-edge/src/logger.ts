import type { Logger } from "@n2store/core";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

function serialise(value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
}

/**
 * The Worker's logger: one object per entry on the console, which Workers Logs (observability)
 * stores with its fields indexed, so that `requestId`, `code` or `operationId` can be queried. Like
 * the Node server it never receives secrets: callers log codes and ids only.
 */
export function consoleLogger(requestId: string, minimum: Level = "info"): Logger {
  const write = (level: Level) => (obj: object, msg?: string) => {
    if (LEVELS[level] < LEVELS[minimum]) {
      return;
    }
    const entry: Record<string, unknown> = { level, requestId, msg };
    for (const [key, value] of Object.entries(obj)) {
      entry[key] = serialise(value);
    }
    if (level === "error") {
      console.error(entry);
    } else if (level === "warn") {
      console.warn(entry);
    } else {
      console.log(entry);
    }
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

/** The access line of one request: the fields the Node server's access line has, under the same names. */
export interface RequestLogEntry {
  readonly requestId: string;
  /** The operation that answered; absent for a path no operation has and for CORS preflights. */
  readonly operationId?: string;
  readonly method: string;
  /** The path and query, credentials replaced (redactUrl). */
  readonly url: string;
  readonly status: number;
  /**
   * Until the response (its headers) was ready. Workers advance the clock only across I/O, so this is
   * the time spent waiting on upstreams and the store, not CPU time.
   */
  readonly durationMs: number;
  /** CF-Connecting-IP. */
  readonly clientAddress?: string;
}

/** Writes the one access line of a request, `msg: "request"`, as an object Workers Logs indexes. */
export function logRequest(entry: RequestLogEntry): void {
  console.log({ level: "info", msg: "request", ...entry });
}
