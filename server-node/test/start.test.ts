/**
 * `npm start` as the README runs it, from the repository's root, on a new PGlite directory: the
 * server is npm's own child (no second npm or shell between them), so the SIGTERM a supervisor sends
 * to `npm start` reaches it, and it closes its port and exits 0. Its first start comes from the
 * PGlite template (no initdb) and says how long it took; the second reuses the build and the data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { processExists } from "@n2store/testkit/servers";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface Started {
  readonly npm: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  readonly up: { url: string; pid: number; startupMs: number; databaseOrigin: string };
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
/** Server processes seen, killed at the end if a failed test left one behind. */
const servers = new Set<number>();

/** `npm start` in the repository's root with `env`; resolves once the server says it is up. */
async function npmStart(env: Record<string, string>): Promise<Started> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  // The first start on PGlite is what this is about, whatever database the rest of the run uses.
  delete childEnv.DATABASE_URL;
  delete childEnv.LOG_FORMAT;
  const npm = spawn("npm", ["start"], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  running.add(npm);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    npm.once("exit", (code, signal) => {
      running.delete(npm);
      resolveExit({ code, signal });
    }),
  );
  const up = await new Promise<Started["up"]>((resolveUp, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start did not come up:\n${stderr.join("")}`)),
      90_000,
    );
    let pending = "";
    npm.stdout?.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const complete = pending.split("\n");
      pending = complete.pop() ?? "";
      for (const text of complete) {
        if (!text.startsWith("{")) {
          continue; // npm's own banner ("> n2store-gateway@1.0.0 start")
        }
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (typeof line.startupMs === "number") {
          clearTimeout(timer);
          servers.add(line.pid as number);
          resolveUp({
            url: line.url as string,
            pid: line.pid as number,
            startupMs: line.startupMs,
            databaseOrigin: line.databaseOrigin as string,
          });
        }
      }
    });
    npm.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${code}) before it was up:\n${stderr.join("")}`));
    });
  });
  return { npm, lines, stderr, up, exit };
}

/** The parent of a process, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name, in parentheses, may hold spaces: the fields after it are what we need.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

describe("npm start", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "n2store-start-"));
  const env = {
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: join(dataDir, "pglite"),
    LOG_LEVEL: "info",
    INSTANCE_ID: "start-test",
  };

  afterAll(() => {
    for (const npm of running) {
      npm.kill("SIGKILL");
    }
    for (const pid of servers) {
      if (processExists(pid)) {
        process.kill(pid, "SIGKILL");
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs the server as npm's own child; SIGTERM to npm closes the port and exits 0", async () => {
    const first = await npmStart(env);
    const { url, pid } = first.up;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    // No second npm, and no shell, between the signal and Node.
    expect(parentOf(pid)).toBe(first.npm.pid);
    // A new data directory comes from the template of an empty one: no initdb on a first start.
    expect(first.up.databaseOrigin).toBe("pglite-template");
    expect(first.up.startupMs).toBeGreaterThan(0);
    // The template holds the schema of every migration: the migrator finds nothing to do.
    expect(first.lines.find((line) => line.msg === "database schema up to date")).toMatchObject({
      origin: "pglite-template",
    });

    first.npm.kill("SIGTERM");
    expect(await first.exit).toEqual({ code: 0, signal: null });
    expect(first.lines.map((line) => line.msg)).toContain("shut down cleanly");
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    expect(processExists(pid), "the server process is gone").toBe(false);
  }, 120_000);

  it("starts again on the same data without rebuilding, and stops the same way", async () => {
    const second = await npmStart(env);
    expect(second.up.databaseOrigin).toBe("pglite-existing");
    expect(second.stderr.join(""), "dist/main.js is up to date: no build").not.toContain(
      "built dist/main.js",
    );
    expect(second.lines.find((line) => line.msg === "database schema up to date")).toBeDefined();
    second.npm.kill("SIGTERM");
    expect(await second.exit).toEqual({ code: 0, signal: null });
  }, 120_000);
});
