import type { Logger } from "@n2store/core";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

function serialise(value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
}

/**
 * The Worker's logger: one JSON line per entry on the console, which Workers Logs (observability)
 * collects. Like the Node server it never receives secrets: callers log codes and ids only.
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
    const line = JSON.stringify(entry);
    if (level === "error") {
      console.error(line);
    } else if (level === "warn") {
      console.warn(line);
    } else {
      console.log(line);
    }
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
