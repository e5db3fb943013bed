import { randomBytes } from "node:crypto";
import type { AllFakes } from "@n2store/testkit/fakes";
import { startAllFakes } from "@n2store/testkit/fakes";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { type AppOptions, buildApp } from "../src/app.js";

/** The databases the suites run on: PGlite always, PostgreSQL when DATABASE_URL is set (CI). */
export function databaseTargets(): ("pglite" | "postgres")[] {
  const wanted = (process.env.DB_TARGETS ?? "pglite,postgres").split(",");
  return wanted.filter(
    (target) => target === "pglite" || (target === "postgres" && Boolean(process.env.DATABASE_URL)),
  ) as ("pglite" | "postgres")[];
}

/** A fresh PostgreSQL database on the DATABASE_URL server, dropped by `drop()`. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (base === undefined) {
    throw new Error("DATABASE_URL is not set");
  }
  const name = `n2store_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** The API key the test servers accept. */
export const API_KEY = "test-key-0123456789";
/** SePay's key on the test servers. */
export const SEPAY_KEY = "sepay-key-0123456789";

/** A Node server on an ephemeral loopback port, wired to the fakes. */
export interface NodeServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly fakes: AllFakes;
  close(): Promise<void>;
}

/** The gateway environment for the fakes: upstream URLs, keys, and the CDN allowed to the proxy. */
export function fakeEnv(fakes: AllFakes, extra: Record<string, string> = {}): Record<string, string> {
  const cdn = new URL(fakes.cdn.url);
  return {
    ...fakes.env,
    N2STORE_API_KEYS: API_KEY,
    SEPAY_API_KEY: SEPAY_KEY,
    PROXY_ALLOWED_HOSTS: `${cdn.hostname}:${cdn.port}`,
    UPSTREAM_TIMEOUT_MS: "3000",
    LOG_LEVEL: "warn",
    ...extra,
  };
}

/** Starts fakes (unless given) and a Node server on them. */
export async function startNodeServer(
  options: {
    database?: "pglite" | "postgres";
    databaseUrl?: string;
    fakes?: AllFakes;
    env?: Record<string, string>;
    app?: Partial<AppOptions>;
  } = {},
): Promise<NodeServer> {
  const fakes = options.fakes ?? (await startAllFakes());
  let dropDatabase: (() => Promise<void>) | undefined;
  let databaseUrl = options.databaseUrl;
  if (options.database === "postgres" && databaseUrl === undefined) {
    const created = await createTestDatabase();
    databaseUrl = created.url;
    dropDatabase = created.drop;
  }
  const env: Record<string, string> = {
    ...fakeEnv(fakes, options.env),
    REALTIME_LEADER_POLL_MS: "200",
    INSTANCE_ID: `node-${randomBytes(3).toString("hex")}`,
    ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}),
  };
  const app = await buildApp({ env, dataDir: null, logger: false, ...options.app });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    fakes,
    async close() {
      await app.close();
      if (options.fakes === undefined) {
        await fakes.close();
      }
      await dropDatabase?.();
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies in tests are checked by expectations, not by types.
type Loose = any;
/** A response body as loosely typed JSON, for expectations. */
export const json = (response: Response): Promise<Loose> => response.json() as Promise<Loose>;
