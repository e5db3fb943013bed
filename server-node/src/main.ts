import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "@n2store/core";
import { buildApp } from "./app.js";
import { loadNodeSettings } from "./env.js";

/** How long in-flight requests get to finish on SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  // A .env beside where `npm start` was typed fills in what the environment does not set.
  const envFile = resolve(process.env.INIT_CWD ?? process.cwd(), ".env");
  if (existsSync(envFile)) {
    process.loadEnvFile(envFile);
  }
  const settings = loadNodeSettings(process.env);
  const app = await buildApp({ env: process.env });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) {
      return;
    }
    closing = true;
    app.log.info({ signal }, "shutting down: no new connections, finishing requests in flight");
    const force = setTimeout(() => {
      app.log.error({}, "shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    app.close().then(
      () => {
        app.log.info({}, "shut down cleanly");
        process.exit(0);
      },
      (error: unknown) => {
        app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  await app.listen({ port: settings.port, host: settings.host });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : settings.port;
  const host = settings.host === "0.0.0.0" || settings.host === "::" ? "127.0.0.1" : settings.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  // Since this process started (performance's time origin): loading, any build, database, listen.
  const startupMs = Math.round(performance.now());
  const { opened } = app.database;
  app.log.info(
    {
      instanceId: settings.instanceId,
      database: settings.databaseUrl === null ? `PGlite in ${settings.dataDir}` : "PostgreSQL (DATABASE_URL)",
      databaseOrigin: opened.origin,
      databaseMs: Math.round(opened.ms),
      startupMs,
      url,
      docs: `${url}/docs`,
    },
    `N2Store gateway (Node) is up at ${url} in ${(startupMs / 1000).toFixed(1)} s`,
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`Configuration error: ${error.message}`);
  } else {
    console.error(error);
  }
  process.exit(1);
});
