/**
 * The SDK against the two real servers: the Worker in workerd (wrangler dev) as primary and a Node
 * server process as fallback, on the upstream fakes. The primary is stopped in the middle of a run
 * of calls and started again: calls keep succeeding on the fallback with no failed idempotent call
 * and no message sent twice, and traffic returns to the primary.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AllFakes, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { createTestDatabase } from "@n2store/testkit/postgres";
import {
  type EdgeServer,
  freePort,
  gatewayEnv,
  type NodeProcess,
  startEdgeServer,
  startNodeProcess,
  startTogether,
} from "@n2store/testkit/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, isN2StoreNetworkError } from "../src/index.js";

const PAGE = FAKE_CREDENTIALS.pageIds[0];

function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

describe("the SDK against the Worker and the Node server", () => {
  let fakes: AllFakes;
  let edge: EdgeServer;
  let node: NodeProcess;
  let edgePort: number;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    fakes = await startAllFakes();
    database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    env = gatewayEnv(fakes);
    edgePort = await freePort();
    dataDir = database === undefined ? mkdtempSync(join(tmpdir(), "n2store-sdk-e2e-")) : undefined;
    [edge, node] = await startTogether(
      [
        startEdgeServer({ vars: env, port: edgePort, ...(database ? { hyperdrive: database.url } : {}) }),
        (started) => started.close(),
      ],
      [
        startNodeProcess("sdk-e2e-node", {
          ...env,
          ...(database ? { DATABASE_URL: database.url } : { DATA_DIR: dataDir ?? "" }),
        }),
        (started) => started.stop(),
      ],
    );
  }, 120_000);

  afterAll(async () => {
    await edge?.close();
    await node?.stop();
    await fakes?.close();
    await database?.drop();
    if (dataDir !== undefined) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("keeps every call succeeding while the primary is down, sends nothing twice, and returns to it", async () => {
    const client = createClient({
      servers: [edge.url, node.url],
      probeIntervalMs: 250,
      downAfter: 2,
      attemptTimeoutMs: 3000,
    });
    const token = await client.POST("/api/token", {
      body: {
        grant_type: "password",
        username: FAKE_CREDENTIALS.tpos.username,
        password: FAKE_CREDENTIALS.tpos.password,
      },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(token.response.status).toBe(200);
    const bearer = `Bearer ${token.data?.access_token}`;
    expect(client.state().active).toBe(edge.url);

    let idempotentFailures = 0;
    let idempotentCalls = 0;
    const failureReasons: string[] = [];
    const sent: string[] = [];
    let sendFailures = 0;
    let seq = 0;
    const idempotent = async () => {
      idempotentCalls += 1;
      try {
        const { response } = await client.GET("/api/odata/{path}", {
          params: { path: { path: "Partner" }, query: { passthrough: { $top: "1" } } },
          headers: { authorization: bearer },
        });
        if (response.status !== 200) {
          idempotentFailures += 1;
          failureReasons.push(`${response.status} from ${response.url}: ${await response.clone().text()}`);
        }
      } catch (error) {
        idempotentFailures += 1;
        failureReasons.push(String(error));
      }
    };
    const send = async () => {
      seq += 1;
      const message = `đơn ${seq}`;
      try {
        const { response } = await client.POST("/api/facebook-send", {
          body: {
            pageId: PAGE,
            psid: FAKE_CREDENTIALS.psids.inWindow,
            message,
            pageToken: FAKE_CREDENTIALS.graphPageTokens[PAGE] ?? "",
          },
        });
        if (response.status === 200) {
          sent.push(message);
        } else {
          sendFailures += 1;
        }
      } catch (error) {
        // A send may fail (never twice); it must say whether it may have gone out.
        expect(isN2StoreNetworkError(error), String(error)).toBe(true);
        sendFailures += 1;
      }
    };

    // Load from four workers while the primary goes down after 1.5 s.
    const deadline = Date.now() + 5000;
    const workers = Array.from({ length: 4 }, async (_, worker) => {
      while (Date.now() < deadline) {
        await (worker % 2 === 0 ? idempotent() : send());
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await edge.close();
    await Promise.all(workers);

    expect(idempotentCalls).toBeGreaterThan(20);
    expect(idempotentFailures, failureReasons.join("\n")).toBe(0);
    expect(client.state().active).toBe(node.url);
    // No duplicate sends: every message Graph received, it received once.
    const texts = fakes.graph.sent.map((entry) => (entry.message as { text?: string }).text);
    expect(new Set(texts).size, "a message reached Graph twice").toBe(texts.length);
    for (const message of sent) {
      expect(texts.filter((text) => text === message).length, message).toBe(1);
    }
    expect(fakes.graph.sent.length).toBeLessThanOrEqual(sent.length + sendFailures);
    console.log(
      `sdk e2e: ${idempotentCalls} idempotent calls (0 failed), ${sent.length} sends ok, ${sendFailures} sends failed, ` +
        `${fakes.graph.sent.length} messages at Graph (0 duplicates)`,
    );

    // Added latency while the primary refuses connections, against calling the fallback directly.
    const direct: number[] = [];
    const through: number[] = [];
    const pinned = createClient({
      servers: [
        { url: `http://127.0.0.1:${edgePort}`, runtime: "edge" },
        { url: node.url, runtime: "node" },
      ],
      downAfter: 1_000_000,
    });
    for (let i = 0; i < 60; i++) {
      let started = performance.now();
      await (
        await fetch(`${node.url}/api/odata/Partner?$top=1`, { headers: { authorization: bearer } })
      ).arrayBuffer();
      direct.push(performance.now() - started);
      started = performance.now();
      await pinned.GET("/api/odata/{path}", {
        params: { path: { path: "Partner" }, query: { passthrough: { $top: "1" } } },
        headers: { authorization: bearer },
      });
      through.push(performance.now() - started);
    }
    pinned.close();
    const added = percentile(through, 0.5) - percentile(direct, 0.5);
    console.log(
      `sdk e2e: primary refusing connections adds ${added.toFixed(2)} ms at p50 ` +
        `(direct ${percentile(direct, 0.5).toFixed(2)} ms, through the SDK ${percentile(through, 0.5).toFixed(2)} ms)`,
    );

    // The primary comes back on the same address: traffic returns within a probe interval or so.
    edge = await startEdgeServer({
      vars: env,
      port: edgePort,
      ...(database ? { hyperdrive: database.url } : {}),
    });
    const back = performance.now();
    while (client.state().active !== edge.url && performance.now() - back < 10_000) {
      await idempotent();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const returnMs = performance.now() - back;
    expect(client.state().active).toBe(edge.url);
    console.log(
      `sdk e2e: back on the primary ${returnMs.toFixed(0)} ms after it answered again (probe interval 250 ms)`,
    );
    expect(idempotentFailures, failureReasons.join("\n")).toBe(0);
    client.close();
  }, 90_000);
});
