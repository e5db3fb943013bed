/**
 * A keyed send whose upstream refuses the connection, on both runtimes sharing one key store. workerd
 * reports a refused connection as "Network connection lost", exactly as a reset after the request
 * went out, so the Worker cannot prove nothing was sent: it stores the outcome as unknown (502
 * OUTCOME_UNKNOWN) and so does every retry with the key, on either runtime. It used to store
 * a plain 502 that the Node server then replayed as if the send had failed. The Node server sees
 * ECONNREFUSED, so it releases the key and a retry sends once Graph is back.
 */
import { type AllFakes, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { createTestDatabase } from "@n2store/testkit/postgres";
import {
  type EdgeServer,
  freePort,
  gatewayEnv,
  type NodeProcess,
  startEdgeServer,
  startNodeProcess,
} from "@n2store/testkit/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// biome-ignore lint/suspicious/noExplicitAny: response bodies in tests are checked by expectations, not by types.
const json = (response: Response): Promise<any> => response.json();

describe.skipIf(!process.env.DATABASE_URL)("a keyed send to a Graph that refuses connections", () => {
  let fakes: AllFakes;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let edge: EdgeServer;
  let node: NodeProcess;
  let healthyNode: NodeProcess;

  const pageId = FAKE_CREDENTIALS.pageIds[0];
  const send = (base: string, key: string) =>
    fetch(`${base}/api/facebook-send`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({
        pageId,
        psid: FAKE_CREDENTIALS.psids.inWindow,
        message: "Dạ đơn của chị đã lên ạ",
        pageToken: FAKE_CREDENTIALS.graphPageTokens[pageId],
      }),
    });

  beforeAll(async () => {
    fakes = await startAllFakes();
    database = await createTestDatabase();
    // Nothing listens here: every connection is refused.
    const refused = { FACEBOOK_GRAPH_BASE_URL: `http://127.0.0.1:${await freePort()}` };
    edge = await startEdgeServer({ vars: gatewayEnv(fakes, refused), hyperdrive: database.url });
    node = await startNodeProcess("node-refused", {
      ...gatewayEnv(fakes, refused),
      DATABASE_URL: database.url,
    });
    healthyNode = await startNodeProcess("node-healthy", {
      ...gatewayEnv(fakes),
      DATABASE_URL: database.url,
    });
  }, 120_000);
  afterAll(async () => {
    await edge?.close();
    await node?.stop();
    await healthyNode?.stop();
    await fakes?.close();
    await database?.drop();
  });

  it("the Worker answers 502 OUTCOME_UNKNOWN and every retry with the key gets it, on either runtime", async () => {
    const key = `refused-edge-${Date.now()}`;
    const first = await send(edge.url, key);
    expect(first.status).toBe(502);
    const body = await json(first);
    expect(body).toMatchObject({ success: false, code: "OUTCOME_UNKNOWN" });
    expect(body.message).toMatch(/may have received the request/);
    for (const base of [edge.url, healthyNode.url]) {
      const retry = await send(base, key);
      expect(retry.headers.get("idempotent-replayed"), base).toBe("true");
      expect((await json(retry)).code).toBe("OUTCOME_UNKNOWN");
    }
    expect(fakes.graph.sent, "nothing reached Graph").toHaveLength(0);
  });

  it("the Node server sees the refusal, releases the key, and the retry sends once Graph answers", async () => {
    const key = `refused-node-${Date.now()}`;
    const first = await send(node.url, key);
    expect(first.status).toBe(502);
    expect((await json(first)).code).toBe("UPSTREAM_UNREACHABLE");
    const retry = await send(healthyNode.url, key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect((await json(retry)).success).toBe(true);
    expect(fakes.graph.sent).toHaveLength(1);
  });
});
