/**
 * The servers the contract suite runs against. A Target is anything with `fetch` and `close`
 * (STYLE.md 11.6); the starters here start the Node server (in-process through a factory the caller
 * passes, e.g. server-node's buildApp, or as a process) and the Worker in workerd (`wrangler dev`),
 * both wired to ONE set of fakes and one database.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Runtime } from "@n2store/generated";
import { type AllFakes, startAllFakes } from "../fakes/index.js";
import { createTestDatabase } from "../postgres.js";
import { gatewayEnv, startEdgeServer, startNodeProcess } from "../servers/index.js";

/** One server under test. */
export interface Target {
  readonly name: Runtime;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly baseUrl: string;
  fetch(request: Request): Promise<Response>;
  close(): Promise<void>;
}

/** A started target and what the cases must know about its configuration. */
export interface StartedTarget extends Target {
  /**
   * Whether this server reaches the shared idempotency store: the Node server always does (its
   * PostgreSQL or PGlite); the Worker only when DATABASE_URL gave it a Hyperdrive database. Without
   * it, keyed non-idempotent calls are refused with 503 IDEMPOTENCY_STORE_UNAVAILABLE, as declared.
   */
  readonly idempotencyStore: boolean;
}

/** What the targets of one suite share: the fakes and, with DATABASE_URL, one PostgreSQL database. */
export interface ContractWorld {
  readonly fakes: AllFakes;
  /** The database every target uses, or null (the Node server then runs on in-memory PGlite). */
  readonly databaseUrl: string | null;
  close(): Promise<void>;
}

/** Options of startWorld. */
export interface WorldOptions {
  /**
   * Prepares a fresh database before any server starts. The Node server migrates its database
   * itself; a Worker alone needs the idempotency table created for it (server-edge passes Kysely's
   * Migrator with core's migrations).
   */
  readonly prepareDatabase?: (url: string) => Promise<void>;
}

/** Starts the fakes, and a fresh database on the DATABASE_URL server when that is set. */
export async function startWorld(options: WorldOptions = {}): Promise<ContractWorld> {
  const fakes = await startAllFakes();
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  try {
    if (process.env.DATABASE_URL) {
      database = await createTestDatabase();
      await options.prepareDatabase?.(database.url);
    }
  } catch (error) {
    await fakes.close();
    await database?.drop();
    throw error;
  }
  return {
    fakes,
    databaseUrl: database?.url ?? null,
    async close() {
      await fakes.close();
      await database?.drop();
    },
  };
}

/** Starts one target in a world. */
export interface TargetStarter {
  readonly runtime: Runtime;
  start(world: ContractWorld): Promise<StartedTarget>;
}

/** A Node server the caller builds and listens on 127.0.0.1 with the given environment. */
export type NodeServerFactory = (
  env: Record<string, string>,
) => Promise<{ url: string; close(): Promise<void> }>;

function target(
  name: Runtime,
  baseUrl: string,
  idempotencyStore: boolean,
  close: () => Promise<void>,
): StartedTarget {
  return { name, baseUrl, idempotencyStore, fetch: (request) => fetch(request), close };
}

/** The Node server's environment in a world: the fakes, the keys, the shared database if any. */
function nodeEnv(world: ContractWorld): Record<string, string> {
  return {
    ...gatewayEnv(world.fakes, { LOG_LEVEL: "warn" }),
    REALTIME_LEADER_POLL_MS: "200",
    INSTANCE_ID: "contract-node",
    ...(world.databaseUrl === null ? {} : { DATABASE_URL: world.databaseUrl }),
  };
}

/**
 * The Node server. With `factory` it runs in this process (faster; server-node's tests pass one
 * around buildApp with in-memory PGlite); without, `server-node/src/main.ts` runs as a process with
 * PGlite in a temporary directory.
 */
export function nodeTarget(factory?: NodeServerFactory): TargetStarter {
  return {
    runtime: "node",
    async start(world) {
      const env = nodeEnv(world);
      if (factory !== undefined) {
        const server = await factory(env);
        return target("node", server.url.replace(/\/$/, ""), true, server.close);
      }
      const dataDir = await mkdtemp(join(tmpdir(), "n2store-contract-"));
      const node = await startNodeProcess("contract-node", { ...env, DATA_DIR: dataDir });
      return target("node", node.url, true, async () => {
        await node.stop();
        await rm(dataDir, { recursive: true, force: true });
      });
    },
  };
}

/**
 * The Worker in real workerd (`wrangler dev`). Its Hyperdrive is the world's database when there is
 * one; otherwise a PostgreSQL that refuses every session, so keyed non-idempotent calls get the
 * declared 503 IDEMPOTENCY_STORE_UNAVAILABLE.
 */
export function edgeTarget(options: { startTimeoutMs?: number } = {}): TargetStarter {
  return {
    runtime: "edge",
    async start(world) {
      const edge = await startEdgeServer({
        vars: gatewayEnv(world.fakes),
        ...(world.databaseUrl === null ? {} : { hyperdrive: world.databaseUrl }),
        ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
      });
      return target("edge", edge.url, world.databaseUrl !== null, () => edge.close());
    },
  };
}

/** The runtimes `TARGETS` selects (`TARGETS=node,edge`; unset means both). */
export function selectedRuntimes(): Runtime[] {
  const raw = process.env.TARGETS?.trim();
  const wanted =
    raw === undefined || raw === "" ? ["node", "edge"] : raw.split(",").map((name) => name.trim());
  const unknown = wanted.filter((name) => name !== "node" && name !== "edge");
  if (unknown.length > 0) {
    throw new Error(`TARGETS names unknown runtimes: ${unknown.join(", ")} (use node, edge)`);
  }
  return wanted as Runtime[];
}
