import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, untilHealthy } from "./net.js";

const EDGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../server-edge");

/** The Worker running in workerd under `wrangler dev`. */
export interface EdgeServer {
  readonly url: string;
  readonly process: ChildProcess;
  /** What wrangler printed (for failure messages). */
  readonly logs: string[];
  close(): Promise<void>;
}

/** Options of startEdgeServer. */
export interface EdgeServerOptions {
  /** Worker variables (`--var NAME:value`), e.g. the fakes' URLs. */
  readonly vars: Readonly<Record<string, string>>;
  /**
   * PostgreSQL URL for the Hyperdrive binding (given a password when it has none, see
   * hyperdriveLocalUrl); omitted: an unreachable one.
   */
  readonly hyperdrive?: string;
  readonly port?: number;
  readonly startTimeoutMs?: number;
  /**
   * wrangler's --log-level: `warn` (default) keeps the Worker's own console lines out of `logs`;
   * `log` lets them in (a test that reads the Worker's request lines).
   */
  readonly logLevel?: "warn" | "log";
}

/**
 * The URL as Hyperdrive's local mode takes it. wrangler refuses a connection string without a user
 * or a password ("You must provide a password"), even for a server that asks for none (trust
 * authentication), so a URL without them gets `pg`'s own defaults (PGUSER, PGPASSWORD) or a
 * placeholder that such a server ignores. A URL that has them is kept as it is.
 */
export function hyperdriveLocalUrl(databaseUrl: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = new URL(databaseUrl);
  if (url.username === "") {
    url.username = env.PGUSER || "postgres";
  }
  if (url.password === "") {
    url.password = env.PGPASSWORD || "unused";
  }
  return url.toString();
}

/**
 * Starts `wrangler dev` (real workerd) on a loopback port with the given variables, and resolves
 * once `/health` answers. Wrangler's fetch of Cloudflare's `Request.cf` data and its metrics are
 * turned off: the tests run offline and talk to loopback only.
 */
export async function startEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const port = options.port ?? (await freePort());
  // Without a database, Hyperdrive points at a PostgreSQL that refuses every session: the store
  // "cannot be reached", and wrangler's proxy stays up (see startRefusingPostgres).
  const refuser = options.hyperdrive === undefined ? await startRefusingPostgres() : undefined;
  const hyperdrive = hyperdriveLocalUrl(options.hyperdrive ?? (refuser as { url: string }).url);
  // Each wrangler dev also opens a devtools inspector, on 9229 unless told otherwise: two Workers
  // started at once (test files run in parallel) collided there and one exited.
  const inspectorPort = await freePort();
  const args = [
    "wrangler",
    "dev",
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-ip",
    "127.0.0.1",
    "--inspector-port",
    String(inspectorPort),
    "--log-level",
    options.logLevel ?? "warn",
  ];
  for (const [name, value] of Object.entries(options.vars)) {
    args.push("--var", `${name}:${value}`);
  }
  const child = spawn("npx", args, {
    cwd: EDGE_DIR,
    env: {
      ...process.env,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      CI: "1",
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: hyperdrive,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  // If the test process ends without calling close() (a timeout, a crash), take the group with it.
  const reap = () => {
    try {
      process.kill(-(child.pid ?? 0), "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  process.once("exit", reap);
  const logs: string[] = [];
  child.stdout?.on("data", (chunk: Buffer) => logs.push(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => logs.push(chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let exited: number | null = null;
  child.once("exit", (code) => {
    exited = code ?? -1;
  });
  if (!(await untilHealthy(url, () => exited !== null || Date.now() > deadline))) {
    await refuser?.close();
    if (exited !== null) {
      throw new Error(`wrangler dev exited (${exited}):\n${logs.join("")}`);
    }
    reap();
    throw new Error(`wrangler dev did not answer /health in time:\n${logs.join("")}`);
  }
  return {
    url,
    process: child,
    logs,
    async close() {
      await refuser?.close();
      if (child.pid === undefined) {
        return;
      }
      const group = -child.pid;
      const signal = (name: NodeJS.Signals) => {
        try {
          process.kill(group, name);
        } catch {
          // The group is already gone.
        }
      };
      if (exited === null) {
        const done = new Promise((resolveExit) => child.once("exit", resolveExit));
        // wrangler starts workerd as a child in the same process group: signal the whole group.
        signal("SIGTERM");
        await Promise.race([done, new Promise((resolveWait) => setTimeout(resolveWait, 5000))]);
      }
      // workerd may outlive wrangler's exit; leave nothing of the group behind.
      signal("SIGKILL");
      process.removeListener("exit", reap);
    },
  };
}

/**
 * A PostgreSQL server that refuses every session the way a database that is starting up or shutting
 * down does (an ErrorResponse with SQLSTATE 57P03; the client then hangs up), for a Worker that must
 * find its idempotency store unreachable.
 *
 * Not a closed port, nor a listener that hangs up: wrangler's local Hyperdrive proxy does not handle
 * ECONNREFUSED, or the ECONNRESET it reads from a socket destroyed after it wrote, and that error
 * kills `wrangler dev` (seen in about one run in two: every later request is ECONNREFUSED).
 */
async function startRefusingPostgres(): Promise<{ url: string; close(): Promise<void> }> {
  const fields = Buffer.from("SFATAL\0VFATAL\0C57P03\0Mthe database system is not accepting connections\0\0");
  const refusal = Buffer.alloc(5 + fields.length);
  refusal.write("E", 0);
  refusal.writeInt32BE(fields.length + 4, 1);
  fields.copy(refusal, 5);
  const sslRequest = 80877103;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let refused = false;
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      if (refused) {
        return; // the client's Terminate: nothing more to say
      }
      if (chunk.length === 8 && chunk.readInt32BE(4) === sslRequest) {
        socket.write("N"); // no TLS: the client goes on with its startup message
        return;
      }
      // Answer once, and leave the closing to the client: a socket this side ends (or answers
      // after the client hung up) can still be written to by the proxy, whose EPIPE would kill
      // `wrangler dev` just as the ECONNRESET does.
      refused = true;
      socket.write(refusal);
    });
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    // Hyperdrive's local mode wants a password even where the server would not ask for one.
    url: `postgres://nobody:nopassword@127.0.0.1:${port}/none`,
    async close() {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((closed) => server.close(() => closed()));
    },
  };
}
