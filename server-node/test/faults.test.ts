/**
 * Upstream faults under load: 10 000 requests to an upstream that resets connections, hangs, is
 * slow, answers garbage or 5xx. Every answer is a clear 502/504 in the error shape (or the
 * upstream's own status, passed through), the server never crashes, and after the run it holds no
 * more sockets than before and has lived within a 128 MB heap, so nothing leaks per request.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type AllFakes, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { type NodeProcess, startNodeProcess, useStarted } from "@n2store/testkit/servers";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { fakeEnv } from "./harness.js";

const TOTAL = 10_000;
const CONCURRENCY = 200;

/** Path on the fake TPOS -> the fault it answers with, and the statuses the gateway may answer. */
const FAST = [
  { path: "/rest/reset", fault: { mode: "reset" }, expect: [502] },
  { path: "/rest/status500", fault: { mode: "status", status: 500, body: { error: "boom" } }, expect: [500] },
  { path: "/rest/garbage", fault: { mode: "garbage", kind: "html" }, expect: [200] },
  { path: "/rest/status503", fault: { mode: "status", status: 503 }, expect: [503] },
] as const;
// Hanging and slow answers each take a timeout to fail: one in eighteen requests of each.
const PLAN = [
  ...FAST,
  ...FAST,
  { path: "/rest/hang", fault: { mode: "hang" }, expect: [504] },
  ...FAST,
  ...FAST,
  // Slower than the timeout by more than undici's timer granularity (about a second).
  { path: "/rest/slow", fault: { mode: "slow", ms: 2500 }, expect: [504] },
] as const;

/** Sockets the gateway process holds open (its file descriptors that are sockets). */
function openSockets(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

/** The gateway process's resident memory, in bytes. */
function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
}

describe("upstream faults: clear errors, no crash, no leak over 10 000 requests", () => {
  const fakes = useStarted(startAllFakes);
  let gateway: NodeProcess;
  let base: string;
  let pid: number;

  beforeAll(async () => {
    for (const step of new Set(PLAN)) {
      fakes().tpos.fault.set(step.fault as Parameters<AllFakes["tpos"]["fault"]["set"]>[0], {
        match: step.path,
      });
    }
    // Its own process, as in production: the gateway does not share an event loop with the load.
    // A small heap: anything kept per request would run it out of memory long before 10 000.
    gateway = await startNodeProcess("faults-node", {
      ...fakeEnv(fakes(), { UPSTREAM_TIMEOUT_MS: "300" }),
      DATABASE_URL: "",
      NODE_OPTIONS: "--max-old-space-size=128",
    });
    base = gateway.url;
    pid = gateway.process.pid ?? 0;
  }, 60_000);

  afterAll(() => {
    gateway?.kill();
  });

  it("answers every faulted request clearly and holds no more sockets or memory afterwards", async () => {
    const client = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 1000 });
    onTestFinished(() => client.destroy().catch(() => {}));
    const tally = new Map<string, number>();
    const send = async (i: number) => {
      const step = PLAN[i % PLAN.length] ?? PLAN[0];
      // Every tenth request is a token grant, which the gateway reads and parses itself.
      const token = i % 10 === 9;
      // The wrong passwords come from 100 clients and for 100 usernames, each well under the limit
      // on failed credential checks (20 a minute), so every one reaches TPOS and is refused there.
      const client100 = Math.floor(i / 10) % 100;
      const response = token
        ? await request(`${base}/api/token`, {
            method: "POST",
            dispatcher: client,
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              "x-forwarded-for": `198.18.7.${client100 + 1}`,
            },
            body: `grant_type=password&username=${FAKE_CREDENTIALS.tpos.username}-${client100}&password=p${i}`,
          })
        : await request(`${base}/api/rest${step.path.slice("/rest".length)}/${i}`, { dispatcher: client });
      const text = await response.body.text();
      const key = `${token ? "token" : step.path} ${response.statusCode}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      if (response.statusCode === 502 || response.statusCode === 504) {
        // A gateway failure (whatever the fault, a loaded machine may also time out): the error shape.
        expect(JSON.parse(text)).toMatchObject({
          statusCode: response.statusCode,
          code: expect.stringMatching(/^UPSTREAM_(UNREACHABLE|TIMEOUT)$/),
        });
      } else if (token) {
        // A wrong password: TPOS's own refusal, in our error shape.
        expect(response.statusCode).toBe(401);
        expect(JSON.parse(text)).toMatchObject({ code: "TPOS_TOKEN_REJECTED" });
      } else {
        // Anything else is the upstream's own answer, passed through unchanged.
        expect(step.expect as readonly number[]).toContain(response.statusCode);
      }
    };
    const run = async (count: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < count) {
            await send(next++);
          }
        }),
      );
    };

    await run(1000); // warm up pools and JIT before the baseline
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const sockets = openSockets(pid);

    tally.clear();
    const started = Date.now();
    // Memory after the first and after the last half: a per-request leak grows between them, while
    // a heap that has reached its working size does not.
    await run(TOTAL / 2);
    const memory = rss(pid);
    await run(TOTAL / 2);
    const seconds = (Date.now() - started) / 1000;
    // Let idle keep-alive connections (ours to the gateway, the gateway's to the fake) expire.
    await client.close();
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const socketsAfter = openSockets(pid);
    const growth = rss(pid) - memory;

    const health = await request(`${base}/health`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    console.log(
      `faults: ${TOTAL} requests in ${seconds.toFixed(1)} s; ${[...tally].map(([k, v]) => `${k}: ${v}`).join(", ")}; ` +
        `gateway sockets ${sockets} -> ${socketsAfter}; gateway RSS growth over the second 5000 ${(growth / 1024 / 1024).toFixed(1)} MB`,
    );
    // A leak of one socket per faulted request would show as thousands; a memory leak would have
    // exhausted the 128 MB heap (the health check above answered from the same process).
    expect(socketsAfter).toBeLessThanOrEqual(sockets + 10);
    expect(gateway.process.exitCode).toBeNull();
  }, 120_000);
});
