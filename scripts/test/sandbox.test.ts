/**
 * The README's sandbox as a newcomer meets it: `npm run sandbox` started as the README says (on free
 * ports, through PORT and EDGE_PORT), then every command of the README's Sandbox section, read from
 * README.md and sent as curl would send it, then the commands the sandbox prints, then Ctrl-C.
 * Without DATABASE_URL the store is the sandbox's PGlite; with it (CI) a second run uses a fresh
 * database on that PostgreSQL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase } from "@n2store/testkit/postgres";
import { freePort, processExists } from "@n2store/testkit/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  type CurlRequest,
  codeBlocks,
  commandLines,
  markdownSection,
  parseCurl,
  shellWords,
} from "./curl.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const START_TIMEOUT_MS = 150_000;

/** The README's sandbox commands: the `sh` blocks of its Sandbox section. */
function readmeCommands(): string[] {
  const section = markdownSection(readFileSync(resolve(ROOT, "README.md"), "utf8"), "## Sandbox");
  const blocks = codeBlocks(section, "sh");
  expect(blocks.length, "the Sandbox section has a sh block").toBeGreaterThan(0);
  return blocks.flatMap((block) => commandLines(block, { strict: true }));
}

/** A command with the README's ports replaced by the sandbox's. */
function onPorts(line: string, ports: { node: number; edge: number }): string {
  return line.replace(/\b(127\.0\.0\.1|localhost):(3000|8787)\b/g, (_, host: string, port: string) =>
    port === "3000" ? `${host}:${ports.node}` : `${host}:${ports.edge}`,
  );
}

interface Answer {
  readonly request: CurlRequest;
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

async function send(request: CurlRequest): Promise<Answer> {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers.map(([name, value]) => [name, value] as [string, string]),
    ...(request.body === undefined ? {} : { body: request.body }),
    signal: AbortSignal.timeout(30_000),
  });
  return { request, status: response.status, headers: response.headers, text: await response.text() };
}

/** `npm run sandbox` in its own process group (as a terminal runs it), its output collected. */
interface Sandbox {
  readonly child: ChildProcess;
  output(): string;
}

async function startSandbox(env: NodeJS.ProcessEnv): Promise<Sandbox> {
  const child = spawn("npm", ["run", "sandbox"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  // Never leave it behind if this process ends first (the Ctrl-C test below stops it properly).
  const reap = () => {
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  process.once("exit", reap);
  let text = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  let gone = false;
  child.once("exit", () => {
    gone = true;
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!text.includes("Press Ctrl-C to stop.")) {
    if (gone || Date.now() > deadline) {
      reap();
      throw new Error(`the sandbox did not come up:\n${text}`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  }
  return { child, output: () => text };
}

function listening(port: number): Promise<boolean> {
  return new Promise((answer) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      answer(true);
    });
    socket.once("error", () => answer(false));
  });
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

/** Whether any process of the group is left. */
// biome-ignore lint/suspicious/noExplicitAny: answers are checked by expectations, not by types.
const json = (answer: Answer): any => JSON.parse(answer.text);

const stores = [
  { name: "PGlite served by the sandbox (nothing installed)", postgres: false },
  { name: "the PostgreSQL of DATABASE_URL", postgres: true },
] as const;

describe.each(stores)("npm run sandbox with $name", ({ postgres }) => {
  const skip = postgres && !process.env.DATABASE_URL;
  let sandbox: Sandbox | undefined;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  const ports = { node: 0, edge: 0 };
  const answered: Answer[] = [];

  beforeAll(async () => {
    if (skip) {
      return;
    }
    ports.node = await freePort();
    ports.edge = await freePort();
    const { DATABASE_URL: _unset, ...env } = process.env;
    database = postgres ? await createTestDatabase() : undefined;
    sandbox = await startSandbox({
      ...env,
      PORT: String(ports.node),
      EDGE_PORT: String(ports.edge),
      ...(database === undefined ? {} : { DATABASE_URL: database.url }),
    });
  }, START_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (sandbox !== undefined && processExists(-(sandbox.child.pid as number))) {
      process.kill(-(sandbox.child.pid as number), "SIGKILL");
    }
    await database?.drop();
  });

  it.skipIf(skip)("prints the servers, the store, the credentials, and every command of the README", () => {
    const output = (sandbox as Sandbox).output();
    expect(output).toContain(`Edge (Worker)      http://127.0.0.1:${ports.edge}`);
    expect(output).toContain(`Node server  http://127.0.0.1:${ports.node}`);
    expect(output).toMatch(
      postgres ? /Idempotency store +the PostgreSQL of DATABASE_URL/ : /Idempotency store +PGlite in memory/,
    );
    expect(output).toContain("reachable from both servers");
    for (const credential of [
      "test-key-0123456789",
      "sepay-key-0123456789",
      "n2store-test / test-password",
    ]) {
      expect(output).toContain(credential);
    }
    const printed = commandLines(output, { strict: false }).map((line) => JSON.stringify(shellWords(line)));
    for (const line of readmeCommands()) {
      expect(printed, `printed: ${line}`).toContain(JSON.stringify(shellWords(onPorts(line, ports))));
    }
  });

  it.skipIf(skip)(
    "answers the README's commands as it says: 2xx, the store reachable, and the keyed send replayed on the other server",
    async () => {
      const commands = readmeCommands().map((line) => onPorts(line, ports));
      // The ports were there to replace: the README's commands name 3000 and 8787.
      expect(commands.join("\n")).toContain(`127.0.0.1:${ports.edge}/`);
      expect(commands.join("\n")).toContain(`127.0.0.1:${ports.node}/`);
      const firstByKey = new Map<string, Answer>();
      const keyedPorts = new Map<string, Set<string>>();
      for (const line of commands) {
        const answer = await send(parseCurl(line));
        answered.push(answer);
        const { request } = answer;
        const path = new URL(request.url).pathname;
        expect(answer.status, `${line}\n${answer.text}`).toBeGreaterThanOrEqual(200);
        expect(answer.status, `${line}\n${answer.text}`).toBeLessThan(300);
        if (path === "/health") {
          expect(json(answer), line).toMatchObject({
            status: "ok",
            idempotencyStore: { configured: true, reachable: true },
          });
        }
        if (path === "/api/token") {
          expect(json(answer).access_token, line).toEqual(expect.any(String));
        }
        const key = request.headers.find(([name]) => name === "idempotency-key")?.[1];
        if (key === undefined) {
          continue;
        }
        const seenOn = keyedPorts.get(key) ?? new Set<string>();
        seenOn.add(new URL(request.url).port);
        keyedPorts.set(key, seenOn);
        const first = firstByKey.get(key);
        if (first === undefined) {
          firstByKey.set(key, answer);
          expect(answer.headers.get("idempotent-replayed"), line).toBeNull();
          expect(json(answer), line).toMatchObject({ success: true, message_ids: [expect.any(String)] });
        } else {
          // The same send with the same key: the first answer, not a second message.
          expect(answer.headers.get("idempotent-replayed"), line).toBe("true");
          expect(json(answer), line).toEqual(json(first));
        }
      }
      // The README shows the point of the shared store: one key sent to both servers.
      expect([...keyedPorts.values()].some((seen) => seen.size === 2)).toBe(true);
    },
    120_000,
  );

  it.skipIf(skip)(
    "answers the commands it prints beyond the README: OData, pages.fm, an image resized for the Worker, SePay, realtime",
    async () => {
      const readme = new Set(
        readmeCommands().map((line) => JSON.stringify(shellWords(onPorts(line, ports)))),
      );
      const extra = commandLines((sandbox as Sandbox).output(), { strict: false }).filter(
        (line) => !readme.has(JSON.stringify(shellWords(line))),
      );
      const paths = extra.map((line) => new URL(parseCurl(line).url).pathname);
      expect(paths).toEqual(
        expect.arrayContaining([
          "/api/odata/Partner",
          "/api/image-proxy",
          "/api/sepay/webhook",
          "/api/realtime/status",
        ]),
      );
      // The browser socket the output describes: the SePay transfer below is relayed to it through
      // the store's LISTEN/NOTIFY (the one PGlite session's notifications routed to the listener).
      const described = /connect a WebSocket to\s+(ws:\/\/\S+)\s+and send (\{[^\n]*?\}) to watch/.exec(
        (sandbox as Sandbox).output(),
      );
      expect(described, "the output says how to watch the realtime socket").not.toBeNull();
      const [, wsUrl, auth] = described as RegExpExecArray;
      const socket = new WebSocket(wsUrl as string);
      const messages: { type: string; payload?: { id?: number } }[] = [];
      socket.on("message", (data) => messages.push(JSON.parse(String(data))));
      await new Promise((opened, failed) => socket.once("open", opened).once("error", failed));
      socket.send(auth as string);
      await waitUntil(() => messages.some((message) => message.type === "ready"), "the socket's ready");
      for (const line of extra) {
        const answer = await send(parseCurl(line));
        expect(answer.status, `${line}\n${answer.text.slice(0, 500)}`).toBeGreaterThanOrEqual(200);
        expect(answer.status, `${line}\n${answer.text.slice(0, 500)}`).toBeLessThan(300);
        const path = new URL(answer.request.url).pathname;
        if (path === "/api/image-proxy") {
          expect(answer.request.url).toContain(`127.0.0.1:${ports.edge}/`);
          expect(answer.headers.get("x-image-resize")).toBe("forwarded");
          expect(answer.headers.get("content-type")).toBe("image/jpeg");
        }
        if (path === "/api/realtime/status") {
          expect(json(answer)).toMatchObject({ connected: true });
        }
        if (path === "/api/sepay/webhook") {
          const id = JSON.parse(answer.request.body as string).id as number;
          await waitUntil(
            () =>
              messages.some((message) => message.type === "sepay:transaction" && message.payload?.id === id),
            "the SePay transaction on the browser socket",
          );
        }
      }
      socket.close();
    },
    120_000,
  );

  it.skipIf(skip)(
    "stops everything on Ctrl-C: every process of the group exits and neither port answers",
    async () => {
      const running = sandbox as Sandbox;
      const group = -(running.child.pid as number);
      // A terminal's Ctrl-C: SIGINT to the foreground process group (npm, tsx, the sandbox).
      process.kill(group, "SIGINT");
      const deadline = Date.now() + 30_000;
      const stopped = async () =>
        !processExists(group) && !(await listening(ports.node)) && !(await listening(ports.edge));
      while (!(await stopped())) {
        expect(Date.now(), `still running 30 s after Ctrl-C:\n${running.output()}`).toBeLessThan(deadline);
        await new Promise((resolveWait) => setTimeout(resolveWait, 250));
      }
      expect(running.output()).toContain("Stopping...");
    },
    40_000,
  );
});
