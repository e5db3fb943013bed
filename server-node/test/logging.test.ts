/**
 * Operator logs: JSON lines for machines, human-readable lines in a terminal. The format follows
 * LOG_FORMAT, else whether stdout is a terminal; the last case runs the server under a real
 * pseudo-terminal (util-linux `script`) and reads what a person would see.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "@n2store/core";
import { afterAll, describe, expect, it } from "vitest";
import { loadNodeSettings } from "../src/env.js";
import { chooseLogFormat, prettyDestination } from "../src/logging.js";

const SERVER = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("the log format", () => {
  it("is pretty in a terminal and JSON elsewhere, unless LOG_FORMAT says", () => {
    expect(chooseLogFormat(null, true)).toBe("pretty");
    expect(chooseLogFormat(null, false)).toBe("json");
    expect(chooseLogFormat("json", true)).toBe("json");
    expect(chooseLogFormat("pretty", false)).toBe("pretty");
  });

  it("refuses a LOG_FORMAT it does not know, naming the variable", () => {
    expect(loadNodeSettings({ LOG_FORMAT: "PRETTY" }).logFormat).toBe("pretty");
    expect(loadNodeSettings({}).logFormat).toBeNull();
    expect(() => loadNodeSettings({ LOG_FORMAT: "xml" })).toThrow(ConfigError);
    expect(() => loadNodeSettings({ LOG_FORMAT: "xml" })).toThrow(/LOG_FORMAT/);
  });
});

describe("prettyDestination", () => {
  const time = Date.UTC(2026, 11, 3, 10, 4, 5, 678);
  const printed = async (...entries: (object | string)[]): Promise<string[]> => {
    const out: string[] = [];
    const destination = await prettyDestination({ write: (line) => out.push(line) }, false);
    for (const entry of entries) {
      destination.write(typeof entry === "string" ? entry : `${JSON.stringify(entry)}\n`);
    }
    return out;
  };

  it("prints an access line as one line: status, method, URL, duration, operation, request id", async () => {
    const [line] = await printed({
      level: 30,
      time,
      pid: 7,
      hostname: "vm",
      requestId: "req-1",
      operationId: "getHealth",
      method: "GET",
      url: "/health",
      status: 200,
      durationMs: 1.2,
      clientAddress: "127.0.0.1",
      msg: "request",
    });
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: 200 GET \/health 1\.2 ms getHealth \(req-1\)\n$/);
  });

  it("keeps every field of other lines, under their message, without pid and host", async () => {
    const [line] = await printed({ level: 40, time, pid: 7, hostname: "vm", instanceId: "a", msg: "odd" });
    expect(line).toMatch(/^\[[\d:.]+\] WARN: odd\n {4}instanceId: "a"\n$/);
    expect(line).not.toContain("vm");
  });

  it("passes a line that is not JSON through as it is", async () => {
    expect(await printed("plain text\n")).toEqual(["plain text\n"]);
  });
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("the server in a terminal", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "n2store-tty-"));
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.skipIf(!hasScript)(
    "writes human-readable lines, one per request, and no realtime line",
    async () => {
      // util-linux script runs the server with a pseudo-terminal as its stdout, as `npm start` typed in a shell.
      const command = `exec ${process.execPath} --import tsx src/main.ts`;
      child = spawn("script", ["-qfec", command, "/dev/null"], {
        cwd: SERVER,
        env: {
          ...process.env,
          PORT: "0",
          HOST: "127.0.0.1",
          DATA_DIR: join(dataDir, "pglite"),
          LOG_LEVEL: "info",
          LOG_FORMAT: "",
          DATABASE_URL: "",
          NO_COLOR: "1",
          TERM: "dumb",
        },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let output = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      const url = await new Promise<string>((resolveUrl, reject) => {
        const timer = setTimeout(() => reject(new Error(`not up:\n${output}`)), 90_000);
        const check = setInterval(() => {
          const match = /is up at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match?.[1] !== undefined) {
            clearInterval(check);
            clearTimeout(timer);
            resolveUrl(match[1]);
          }
        }, 50);
      });
      await (await fetch(`${url}/health`, { headers: { "x-request-id": "tty-1" } })).arrayBuffer();
      const accessLine = async () => {
        for (let attempt = 0; attempt < 100 && !output.includes("(tty-1)"); attempt++) {
          await new Promise((wait) => setTimeout(wait, 50));
        }
        return output.split(/\r?\n/).find((line) => line.includes("(tty-1)"));
      };
      expect(await accessLine()).toMatch(/INFO: 200 GET \/health [\d.]+ ms getHealth \(tty-1\)$/);
      const lines = output.split(/\r?\n/).filter((line) => line.trim() !== "");
      expect(lines.filter((line) => line.trimStart().startsWith("{"))).toEqual([]);
      expect(output).toMatch(/INFO: N2Store gateway \(Node\) is up at/);
      expect(output).not.toContain("Pancake socket");
      child.kill("SIGTERM");
    },
    120_000,
  );
});
