import { randomBytes } from "node:crypto";
import type { AllFakes } from "@n2store/testkit/fakes";
import { startAllFakes } from "@n2store/testkit/fakes";
import { createTestDatabase } from "@n2store/testkit/postgres";
import { gatewayEnv } from "@n2store/testkit/servers";
import type { FastifyInstance } from "fastify";
import { type AppOptions, buildApp } from "../src/app.js";

/** The databases the suites run on: PGlite always, PostgreSQL when DATABASE_URL is set (CI). */
export function databaseTargets(): ("pglite" | "postgres")[] {
  const wanted = (process.env.DB_TARGETS ?? "pglite,postgres").split(",");
  return wanted.filter(
    (target) => target === "pglite" || (target === "postgres" && Boolean(process.env.DATABASE_URL)),
  ) as ("pglite" | "postgres")[];
}

export { createTestDatabase } from "@n2store/testkit/postgres";
export { API_KEY, SEPAY_KEY } from "@n2store/testkit/servers";

/** A Node server on an ephemeral loopback port, wired to the fakes. */
export interface NodeServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly fakes: AllFakes;
  close(): Promise<void>;
}

/** The gateway environment for the fakes (shared with the edge tests), quiet logs. */
export function fakeEnv(fakes: AllFakes, extra: Record<string, string> = {}): Record<string, string> {
  return gatewayEnv(fakes, { LOG_LEVEL: "warn", ...extra });
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
