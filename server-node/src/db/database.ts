import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { Logger } from "@n2store/core";
import { type Database, migrations, PGliteDialect } from "@n2store/core/db";
import { Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { createFromTemplate, loadTemplate, templateProblem } from "./pglite-template.js";

/** A session-level lock held by this process until released or until its connection dies. */
export interface HeldLock {
  /** Resolves when the lock is lost (its connection broke). */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

/** How the database came up: a new PGlite directory from the template or from initdb, an existing one, or PostgreSQL. */
type DatabaseOrigin = "postgres" | "pglite-existing" | "pglite-template" | "pglite-initdb";

/** The PostgreSQL pool's connections (pg.Pool's counts). */
interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
  readonly max: number;
}

/** The database as the Node server uses it: Kysely plus the session features Kysely does not cover. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly driver: "postgres" | "pglite";
  /** How it came up, and what it cost (PGlite's initdb is most of a first start). */
  readonly opened: { readonly origin: DatabaseOrigin; readonly ms: number; readonly note?: string };
  /** The pool's connections; null on PGlite (one session, no pool). */
  poolStats(): PoolStats | null;
  /** Runs the migrations that have not run yet, under Kysely's advisory lock. */
  migrate(): Promise<string[]>;
  ping(timeoutMs: number): Promise<{ reachable: boolean; latencyMs?: number }>;
  /** Calls `onPayload` for every NOTIFY on `channel`, re-listening after reconnects. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** Takes a session-level advisory lock without waiting; null when another session holds it. */
  tryLock(key: number): Promise<HeldLock | null>;
  close(): Promise<void>;
}

const provider: MigrationProvider = {
  getMigrations: async (): Promise<Record<string, Migration>> => migrations,
};

/** Runs the migrations that have not run yet (Kysely's Migrator, under its lock); returns their names. */
export async function runMigrations(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === "Error")?.migrationName ?? "unknown";
    throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  return (results ?? [])
    .filter((result) => result.status === "Success")
    .map((result) => result.migrationName);
}

async function timed(
  run: () => Promise<unknown>,
  timeoutMs: number,
): Promise<{ reachable: boolean; latencyMs?: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("database ping timed out")), timeoutMs);
      }),
    ]);
    return { reachable: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
  } catch {
    return { reachable: false };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One dedicated connection for LISTEN, reconnecting with backoff when PostgreSQL restarts, so that
 * notifications keep arriving across a database restart.
 */
class PgListener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private closed = false;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;

  constructor(
    private readonly connectionString: string,
    private readonly log: Logger,
  ) {}

  async add(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(channel, set);
      if (this.client !== undefined) {
        await this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
    }
    set.add(handler);
    await this.ensureConnected();
    return async () => {
      set.delete(handler);
    };
  }

  private ensureConnected(): Promise<void> {
    if (this.client !== undefined || this.closed) {
      return Promise.resolve();
    }
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    client.on("notification", (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) {
        handler(message.payload ?? "");
      }
    });
    const lost = (error?: Error) => {
      if (this.client !== client) {
        return;
      }
      this.client = undefined;
      client.end().catch(() => {});
      if (!this.closed) {
        this.log.warn({ err: error }, "LISTEN connection lost; reconnecting");
        this.scheduleReconnect();
      }
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) {
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      this.client = client;
      this.attempt = 0;
    } catch (error) {
      client.end().catch(() => {});
      if (this.closed) {
        return;
      }
      this.log.warn({ err: error }, "LISTEN connection failed; retrying");
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    clearTimeout(this.retryTimer);
    const delay = Math.min(5000, 200 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.retryTimer = setTimeout(() => void this.ensureConnected(), delay);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}

/** Connections the pool opens at most, per instance. */
const POOL_MAX = 10;

/** PostgreSQL through `pg` (DATABASE_URL). */
async function openPostgres(connectionString: string, log: Logger): Promise<DatabaseHandle> {
  const started = performance.now();
  const pool = new pg.Pool({
    connectionString,
    max: POOL_MAX,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle client that loses its connection emits here; without a listener the process would exit.
  pool.on("error", (error) => log.warn({ err: error }, "idle database connection lost"));
  // So does a checked-out client between two queries (PostgreSQL shutting down sends 57P01 at any
  // time). The listener keeps the process alive; pg-pool drops the broken client when it is released,
  // and the query in progress fails as DATABASE_UNAVAILABLE.
  pool.on("connect", (client) => {
    client.on("error", (error) => log.warn({ err: error }, "database connection lost"));
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listener = new PgListener(connectionString, log);
  return {
    db,
    driver: "postgres",
    opened: { origin: "postgres", ms: performance.now() - started },
    poolStats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: POOL_MAX,
    }),
    migrate: () => runMigrations(db),
    ping: (timeoutMs) => timed(() => sql`select 1`.execute(db), timeoutMs),
    listen: (channel, onPayload) => listener.add(channel, onPayload),
    async notify(channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db);
    },
    async tryLock(key) {
      const client = new pg.Client({ connectionString, keepAlive: true });
      let markLost!: () => void;
      const lost = new Promise<void>((resolve) => {
        markLost = resolve;
      });
      client.on("error", () => markLost());
      client.on("end", () => markLost());
      try {
        await client.connect();
        const result = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1) as locked", [
          key,
        ]);
        if (result.rows[0]?.locked !== true) {
          await client.end();
          return null;
        }
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      // A dead TCP connection is noticed by the next query, not by keep-alives alone: check often.
      const probe = setInterval(() => {
        client.query("select 1").catch(() => {
          markLost();
          client.end().catch(() => {});
        });
      }, 1000);
      probe.unref();
      void lost.then(() => clearInterval(probe));
      return {
        lost,
        async release() {
          clearInterval(probe);
          await client.query("select pg_advisory_unlock($1)", [key]).catch(() => {});
          await client.end().catch(() => {});
        },
      };
    },
    async close() {
      await listener.close();
      await db.destroy();
    },
  };
}

/**
 * PGlite's WebAssembly (9 MB), compiled by V8 on its own threads while this one unpacks the
 * template; PGlite would otherwise compile it only after.
 */
function compilePglite(): Promise<WebAssembly.Module> {
  const dist = dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite"));
  // The global exists on every Node; @types/node declares only its types, not the value.
  const { WebAssembly: wasm } = globalThis as unknown as {
    WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> };
  };
  return readFile(join(dist, "pglite.wasm")).then((bytes) => wasm.compile(bytes));
}

/**
 * Embedded PGlite persisted under `dataDir` (no DATABASE_URL): one process owns the directory. A new
 * directory (and an in-memory database, `dataDir` null) starts from the template of an empty one
 * (pglite-template.ts) instead of running initdb, which was most of a first start.
 */
async function openPglite(dataDir: string | null): Promise<DatabaseHandle> {
  const started = performance.now();
  const existing = dataDir !== null && existsSync(join(dataDir, "PG_VERSION"));
  let origin: DatabaseOrigin = existing ? "pglite-existing" : "pglite-initdb";
  let note: string | undefined;
  let pglite: PGlite;
  if (existing) {
    pglite = new PGlite(dataDir);
  } else if (dataDir === null) {
    // In memory (tests): PGlite unpacks the template into its own file system.
    const [template, pgliteWasmModule] = await Promise.all([loadTemplate(), compilePglite()]);
    if ("tar" in template) {
      pglite = new PGlite({ loadDataDir: new Blob([template.tar]), pgliteWasmModule });
      origin = "pglite-template";
    } else {
      pglite = new PGlite();
      note = template.missing;
    }
  } else {
    note = templateProblem() ?? undefined;
    if (note === undefined) {
      const compiled = compilePglite();
      // Awaited below, after the copy; a failure here must not go unhandled meanwhile.
      compiled.catch(() => {});
      const created = await createFromTemplate(dataDir);
      if (created) {
        origin = "pglite-template";
        pglite = new PGlite(dataDir, { pgliteWasmModule: await compiled });
      } else {
        pglite = new PGlite(dataDir);
      }
    } else {
      await mkdir(dataDir, { recursive: true });
      pglite = new PGlite(dataDir);
    }
  }
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    driver: "pglite",
    opened: { origin, ms: performance.now() - started, ...(note === undefined ? {} : { note }) },
    poolStats: () => null,
    migrate: () => runMigrations(db),
    ping: (timeoutMs) => timed(() => sql`select 1`.execute(db), timeoutMs),
    listen: (channel, onPayload) => pglite.listen(channel, onPayload),
    async notify(channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db);
    },
    // The data directory belongs to this one process, so it is the only possible holder.
    tryLock: async () => ({ lost: new Promise<void>(() => {}), release: async () => {} }),
    close: () => db.destroy(),
  };
}

/** Opens PostgreSQL when `databaseUrl` is set, else embedded PGlite (in memory when `dataDir` is null). */
export function openDatabase(options: {
  databaseUrl: string | null;
  dataDir: string | null;
  log: Logger;
}): Promise<DatabaseHandle> {
  return options.databaseUrl !== null
    ? openPostgres(options.databaseUrl, options.log)
    : openPglite(options.dataDir);
}
