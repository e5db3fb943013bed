import { type ChildProcess, spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, untilHealthy } from "./net.js";

const SERVER = resolve(dirname(fileURLToPath(import.meta.url)), "../../../server-node");

/** A Node server process, started as `npm start` starts it. */
export interface NodeProcess {
  readonly name: string;
  readonly url: string;
  readonly process: ChildProcess;
  readonly logs: string[];
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: the process dies without cleaning up. */
  kill(): void;
}

/**
 * Starts the Node server on an ephemeral loopback port with `env`; resolves once it listens. By
 * default from its TypeScript sources (through tsx); `built: true` runs dist/main.js as `npm start`
 * does (benchmarks: no TypeScript loader on the request path; build it first).
 *
 * It logs at info (the "Server listening at" line is how the port is learned, and tests read the
 * logs). `quiet: true` runs it at warn instead, with no line per request, for benchmarks: the port
 * is then chosen here and readiness learned from /health.
 */
export async function startNodeProcess(
  name: string,
  env: Record<string, string>,
  /** `nodeArgs` go before the script: options NODE_OPTIONS refuses, such as `--cpu-prof` (the bench's profile). */
  options: { built?: boolean; quiet?: boolean; nodeArgs?: readonly string[] } = {},
): Promise<NodeProcess> {
  const args = [
    ...(options.nodeArgs ?? []),
    ...(options.built
      ? ["--enable-source-maps", resolve(SERVER, "dist/main.js")]
      : ["--import", "tsx", resolve(SERVER, "src/main.ts")]),
  ];
  const quietPort = options.quiet ? (env.PORT ?? String(await freePort())) : null;
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      ...env,
      LOG_LEVEL: options.quiet ? "warn" : "info",
      INSTANCE_ID: name,
      PORT: quietPort ?? env.PORT ?? "0",
      HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  let exited = false;
  // If the test process ends without stopping it (a timeout, a crash), do not leave it running.
  const reap = () => child.kill("SIGKILL");
  process.once("exit", reap);
  child.once("exit", () => {
    exited = true;
    process.removeListener("exit", reap);
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server behind: nobody else holds a handle to kill it.
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start:\n${logs.join("")}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      logs.push(text);
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    if (quietPort !== null) {
      const base = `http://127.0.0.1:${quietPort}`;
      void untilHealthy(base, () => exited, 100).then((ready) => {
        if (ready) {
          clearTimeout(timer);
          resolveUrl(base);
        }
      });
    }
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${logs.join("")}`));
    });
  });
  return {
    name,
    url,
    process: child,
    logs,
    async stop() {
      if (exited) {
        return child.exitCode;
      }
      const done = new Promise<number | null>((resolveExit) =>
        child.once("exit", (code) => resolveExit(code)),
      );
      child.kill("SIGTERM");
      return done;
    },
    kill() {
      if (!exited) {
        child.kill("SIGKILL");
      }
    },
  };
}

/**
 * Whether a process (or, for a negative id, a process group) still exists: signal 0 checks without
 * sending anything. For tests that must see a server, or everything it started, gone.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
