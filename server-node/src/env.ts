import { hostname } from "node:os";
import { resolve } from "node:path";
import { ConfigError, type Env } from "@n2store/core";
import type { LogFormat } from "./logging.js";

/** What only the Node server reads from the environment (the shared names are in core's loadConfig). */
export interface NodeSettings {
  readonly port: number;
  readonly host: string;
  /** PostgreSQL; null means embedded PGlite. */
  readonly databaseUrl: string | null;
  /** Where PGlite keeps its files (`./.data/pglite` by default). */
  readonly dataDir: string;
  readonly logLevel: string;
  /** LOG_FORMAT: `json` or `pretty`; null leaves it to whether stdout is a terminal. */
  readonly logFormat: LogFormat | null;
  /** This instance's name in logs, /health and the realtime status. */
  readonly instanceId: string;
  /** How often a standby instance tries to take over the realtime socket. */
  readonly leaderPollMs: number;
  /** The longest a client may take to send one whole request, headers and body (slowloris). */
  readonly requestTimeoutMs: number;
  /**
   * Which proxies' X-Forwarded-For to believe for the client's address (Fastify's trustProxy): false,
   * true (any), a number of hops, or a comma list of addresses and CIDRs.
   */
  readonly trustProxy: boolean | string | ((address: string, hop: number) => boolean);
  /** How often an instance tries to purge expired idempotency keys (one instance does, under a lock). */
  readonly idempotencyPurgeIntervalMs: number;
}

function trustProxy(env: Env): NodeSettings["trustProxy"] {
  const raw = env.TRUST_PROXY?.trim() ?? "";
  if (raw === "" || raw === "false") {
    return false;
  }
  if (raw === "true") {
    return true;
  }
  if (/^\d+$/.test(raw)) {
    // A number of hops: the address that many proxies back (what Fastify does with a number).
    const hops = Number(raw);
    return (_address, hop) => hop < hops;
  }
  return raw;
}

function logFormat(env: Env): LogFormat | null {
  const raw = env.LOG_FORMAT?.trim().toLowerCase() ?? "";
  if (raw === "") {
    return null;
  }
  if (raw !== "json" && raw !== "pretty") {
    throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${env.LOG_FORMAT}"`);
  }
  return raw;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** Reads the Node server's settings; throws a ConfigError naming the variable at fault. */
export function loadNodeSettings(env: Env): NodeSettings {
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  return {
    port: integer(env, "PORT", 3000, 0, 65535),
    host: env.HOST?.trim() || "0.0.0.0",
    databaseUrl,
    // Relative to where `npm start` was typed (npm sets INIT_CWD), not to the workspace folder.
    dataDir: resolve(env.INIT_CWD ?? process.cwd(), env.DATA_DIR?.trim() || ".data/pglite"),
    logLevel: env.LOG_LEVEL?.trim() || "info",
    logFormat: logFormat(env),
    instanceId: env.INSTANCE_ID?.trim() || `${hostname()}-${process.pid}`,
    leaderPollMs: integer(env, "REALTIME_LEADER_POLL_MS", 2000, 100, 60_000),
    requestTimeoutMs: integer(env, "REQUEST_TIMEOUT_MS", 30_000, 500, 600_000),
    trustProxy: trustProxy(env),
    idempotencyPurgeIntervalMs: integer(env, "IDEMPOTENCY_PURGE_INTERVAL_MS", 600_000, 100, 86_400_000),
  };
}
