import { redactUrl } from "@n2store/core";
import type { FastifyServerOptions } from "fastify";

/** Where log lines go: a stream with `write(line)` (stdout by default). */
export interface LogDestination {
  write(line: string): void;
}

/** JSON lines (for machines: files, pipes, Render's log stream) or human-readable lines (a terminal). */
export type LogFormat = "json" | "pretty";

/**
 * The format LOG_FORMAT asks for; without it, pretty when stdout is a terminal (someone typed
 * `npm start`), JSON otherwise (a pipe, a container, a log collector).
 */
export function chooseLogFormat(asked: LogFormat | null, stdoutIsTerminal: boolean): LogFormat {
  return asked ?? (stdoutIsTerminal ? "pretty" : "json");
}

/** The message of the one access line each request leaves (fields in AccessLog). */
export const ACCESS_MESSAGE = "request";

/** What an access line carries, besides pino's own fields and the request id. */
interface AccessFields {
  readonly operationId?: string;
  readonly method?: string;
  readonly url?: string;
  readonly status?: number;
  readonly durationMs?: number;
  readonly clientAddress?: string;
}

/**
 * A destination that prints pino's JSON lines for people, with pino-pretty: time, level, message and
 * fields. An access line becomes one line, `200 GET /health 1.2 ms getHealth (request id)`; every
 * other line keeps all its fields. Loaded only for a terminal, so JSON logging never pays for it.
 */
export async function prettyDestination(output: LogDestination, colorize: boolean): Promise<LogDestination> {
  const { prettyFactory } = await import("pino-pretty");
  const prettify = prettyFactory({
    colorize,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
    singleLine: false,
  });
  return {
    write(line: string) {
      let entry: Record<string, unknown> & AccessFields;
      try {
        entry = JSON.parse(line) as Record<string, unknown> & AccessFields;
      } catch {
        output.write(line);
        return;
      }
      if (entry.msg === ACCESS_MESSAGE && typeof entry.status === "number") {
        const { operationId, method, url, status, durationMs, clientAddress, requestId, ...rest } = entry;
        void clientAddress;
        entry = {
          ...rest,
          msg: `${status} ${method} ${url} ${durationMs} ms${operationId === undefined ? "" : ` ${operationId}`} (${String(requestId)})`,
        };
      }
      output.write(prettify(entry));
    },
  };
}

/**
 * pino's options for the Node server: the level, where lines go, credentials redacted wherever
 * they could appear (headers, and any field named like a secret), and a request as its method, the
 * URL with every credential in its query replaced (redactUrl) and the client's address.
 */
export function loggerOptions(
  level: string,
  stream: LogDestination | undefined,
): Exclude<FastifyServerOptions["logger"], undefined | boolean> {
  return {
    level,
    ...(stream === undefined ? {} : { stream }),
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["x-api-key"]',
        "res.headers['set-cookie']",
        "*.password",
        "*.token",
        "*.pageToken",
        "*.access_token",
        "*.refresh_token",
      ],
      censor: "[redacted]",
    },
    serializers: {
      req: (request: { method: string; url: string; ip: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip,
      }),
    },
  } as Exclude<FastifyServerOptions["logger"], undefined | boolean>;
}
