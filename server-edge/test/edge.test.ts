import { JSON_BODY_LIMIT } from "@n2store/core";
import { operations } from "@n2store/generated";
import {
  type AllFakes,
  FAKE_CREDENTIALS,
  GRAPH_ERRORS,
  startAllFakes,
  tposPasswordGrant,
} from "@n2store/testkit/fakes";
import { createTestDatabase } from "@n2store/testkit/postgres";
import {
  type EdgeServer,
  gatewayEnv,
  type NodeProcess,
  startEdgeServer,
  startNodeProcess,
  useStarted,
} from "@n2store/testkit/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// biome-ignore lint/suspicious/noExplicitAny: response bodies in tests are checked by expectations, not by types.
const json = (response: Response): Promise<any> => response.json();

describe("the Worker in workerd (wrangler dev)", () => {
  let fakes: AllFakes;
  let edge: EdgeServer;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;

  beforeAll(async () => {
    fakes = await startAllFakes();
    database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    edge = await startEdgeServer({
      vars: gatewayEnv(fakes),
      ...(database !== undefined ? { hyperdrive: database.url } : {}),
      // The Worker's console lines too: one case reads its request lines.
      logLevel: "log",
    });
  });
  afterAll(async () => {
    await edge?.close();
    await fakes?.close();
    await database?.drop();
  });

  it("reports the edge runtime, and its idempotency store unusable: degraded, but up", async () => {
    // Its Hyperdrive points at a PostgreSQL that refuses every session, or with DATABASE_URL at a
    // database nobody migrated (no idempotency-key table). Either way keyed sends would get 503.
    // (A store that answers: the contract suite with DATABASE_URL, and the sandbox's test.)
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${edge.url}/health`);
      expect(response.status).toBe(200);
      expect(await json(response)).toMatchObject({
        status: "degraded",
        runtime: "edge",
        version: "1.0.0",
        idempotencyStore: { configured: true, reachable: false },
      });
    }
  });

  it("answers every node-only operation with 501 NOT_SERVED_BY_RUNTIME in the error shape", async () => {
    const nodeOnly = Object.values(operations).filter(
      (op) => !(op.runtimes as readonly string[]).includes("edge"),
    );
    expect(nodeOnly.length).toBeGreaterThan(5);
    for (const op of nodeOnly) {
      const path = op.path.replace("{id}", "1");
      const response = await fetch(`${edge.url}${path}`, { method: op.method });
      expect(response.status, `${op.operationId}`).toBe(501);
      const body = await json(response);
      expect(body).toMatchObject({ statusCode: 501, code: "NOT_SERVED_BY_RUNTIME" });
      expect(body.message).toContain(op.operationId);
    }
  });

  it("answers unknown paths with 404 in the error shape", async () => {
    const response = await fetch(`${edge.url}/no/such/route`);
    expect(response.status).toBe(404);
    expect(await json(response)).toMatchObject({ code: "ROUTE_NOT_FOUND" });
  });

  it("gives every answer, refusals included, the CORS headers and the caller's sane X-Request-Id", async () => {
    const json413 = "x".repeat(JSON_BODY_LIMIT + 1);
    const cases: [string, RequestInit, number][] = [
      ["/health", {}, 200],
      ["/no/such/route", {}, 404],
      ["/api/debug/time", {}, 501],
      ["/api/rest/%E0%A4%A", {}, 400],
      ["/api/facebook-send", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" }, 415],
      [
        "/api/facebook-send",
        { method: "POST", headers: { "content-type": "application/json" }, body: "{" },
        400,
      ],
      [
        "/api/facebook-send",
        { method: "POST", headers: { "content-type": "application/json" }, body: json413 },
        413,
      ],
    ];
    for (const [path, init, status] of cases) {
      const requestId = `edge-headers-${status}.${path.length}`;
      const response = await fetch(`${edge.url}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          "x-request-id": requestId,
          origin: "https://a.example",
        },
      });
      const what = `${init.method ?? "GET"} ${path}`;
      expect(response.status, what).toBe(status);
      expect(response.headers.get("access-control-allow-origin"), what).toBe("*");
      expect(response.headers.get("access-control-expose-headers"), what).toContain("x-request-id");
      expect(response.headers.get("x-request-id"), what).toBe(requestId);
      const body = await json(response);
      if (status >= 400) {
        expect(body.requestId, what).toBe(requestId);
      }
    }
  });

  it("keeps a caller's request id of 1-64 safe characters, else takes the ray id, else makes one", async () => {
    const idFor = async (headers: Record<string, string>) => {
      const response = await fetch(`${edge.url}/no/such/route`, { headers });
      const body = await json(response);
      expect(body.requestId).toBe(response.headers.get("x-request-id"));
      return body.requestId as string;
    };
    const longest = `A-z_0.9${"x".repeat(57)}`;
    expect(await idFor({ "x-request-id": longest })).toBe(longest);
    expect(await idFor({ "x-request-id": `${longest}x`, "cf-ray": "8f1e2d3c4b5a6978-SIN" })).toBe(
      "8f1e2d3c4b5a6978-SIN",
    );
    const made = await idFor({ "x-request-id": "no spaces" });
    expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await idFor({})).not.toBe(made);
  });

  it("logs one structured line per request with the Node server's fields, credentials redacted", async () => {
    const secret = "edge-log-secret-0123456789";
    const response = await fetch(`${edge.url}/api/pancake/pages?access_token=${secret}`, {
      headers: { "x-request-id": "edge-log-1" },
    });
    await response.arrayBuffer();
    // wrangler prints the Worker's console objects as Workers Logs stores them, fields by name.
    await expect.poll(() => edge.logs.join("").includes("edge-log-1"), { timeout: 10_000 }).toBe(true);
    const printed = edge.logs.join("");
    const entry = printed.slice(printed.lastIndexOf("{", printed.indexOf("edge-log-1")));
    const line = entry.slice(0, entry.indexOf("}") + 1);
    for (const field of [
      /msg: 'request'/,
      /requestId: 'edge-log-1'/,
      /operationId: 'pancakeGenericGet'/,
      /method: 'GET'/,
      /url: '\/api\/pancake\/pages\?access_token=\[redacted\]'/,
      new RegExp(`status: ${response.status}\\b`),
      /durationMs: \d+/,
    ]) {
      expect(line).toMatch(field);
    }
    expect(printed).not.toContain(secret);
  });

  it("passes TPOS REST calls through with the caller's token and TPOS's headers, never its cookies", async () => {
    const response = await fetch(`${edge.url}/api/rest/v2.0/echo/x?a=1&b=%20two`, {
      headers: { authorization: "Bearer abc", cookie: "session=secret" },
    });
    // The fake TPOS does not know this token: its own 401 comes back unchanged.
    expect(response.status).toBe(401);
    expect(await json(response)).toEqual({ Message: "Authorization has been denied for this request." });
    const echoed = fakes.tpos.requests.at(-1);
    expect(echoed?.path).toBe("/rest/v2.0/echo/x");
    expect(echoed?.headers.authorization).toBe("Bearer abc");
    expect(echoed?.headers.cookie).toBeUndefined();
    expect(echoed?.headers.origin).toBe(new URL(fakes.tpos.url).origin);
    expect(echoed?.query.get("b")).toBe(" two");
  });

  it("caches TPOS tokens per credential within the isolate", async () => {
    const form = tposPasswordGrant().toString();
    const before = fakes.tpos.tokenHits;
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${edge.url}/api/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: form,
        }),
      ),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(fakes.tpos.tokenHits - before).toBe(1);
  });

  it("refuses loopback and metadata targets on the proxy routes without reaching them", async () => {
    for (const target of [
      "http://127.0.0.1:1/",
      "http://2130706433/",
      "http://[::1]/",
      "http://169.254.169.254/latest/meta-data/",
    ]) {
      const response = await fetch(`${edge.url}/api/proxy?url=${encodeURIComponent(target)}`);
      expect(response.status, target).toBe(403);
      expect(await json(response)).toMatchObject({ code: "TARGET_NOT_ALLOWED" });
    }
    const image = await fetch(
      `${edge.url}/api/image-proxy?url=${encodeURIComponent(fakes.cdn.imageUrl("photo", "png"))}`,
    );
    expect(image.status).toBe(200);
    expect(image.headers.get("content-type")).toBe("image/png");
  });

  describe.skipIf(!process.env.DATABASE_URL)("idempotency shared with the Node server", () => {
    let node: NodeProcess;
    beforeAll(async () => {
      node = await startNodeProcess("node-idem", { ...gatewayEnv(fakes), DATABASE_URL: database?.url ?? "" });
    }, 60_000);
    afterAll(async () => {
      await node?.stop();
    });

    it("replays on the Node server a send made through the edge, and Graph sees one message", async () => {
      const pageId = FAKE_CREDENTIALS.pageIds[0];
      const body = JSON.stringify({
        pageId,
        psid: FAKE_CREDENTIALS.psids.inWindow,
        message: "Đơn của chị đã gửi ạ",
        pageToken: FAKE_CREDENTIALS.graphPageTokens[pageId],
      });
      const headers = {
        "content-type": "application/json",
        "idempotency-key": `cross-runtime-${Date.now()}`,
      };
      const before = fakes.graph.sent.length;
      const viaEdge = await fetch(`${edge.url}/api/facebook-send`, { method: "POST", headers, body });
      expect(viaEdge.status).toBe(200);
      const first = await json(viaEdge);
      const viaNode = await fetch(`${node.url}/api/facebook-send`, { method: "POST", headers, body });
      expect(viaNode.status).toBe(200);
      expect(viaNode.headers.get("idempotent-replayed")).toBe("true");
      expect(await json(viaNode)).toEqual(first);
      expect(fakes.graph.sent.length - before).toBe(1);
    });

    it("sends a multi-part send exactly once across a failure between parts: the Worker sends the images, the Node server only the text", async () => {
      const pageId = FAKE_CREDENTIALS.pageIds[0];
      const images = [
        "https://content.pancake.vn/2.1-24/a/ao.jpg",
        "https://content.pancake.vn/2.1-24/a/vay.jpg",
      ];
      const text = `Mẫu mới về ạ ${Date.now()}`;
      // As the shop's template manager sends it, with two images.
      const body = JSON.stringify({
        pageId,
        psid: FAKE_CREDENTIALS.psids.inWindow,
        message: text,
        pageToken: FAKE_CREDENTIALS.graphPageTokens[pageId],
        useTag: true,
        imageUrls: images,
        postId: "",
        customerName: "Nguyễn Thị Lan",
      });
      const headers = { "content-type": "application/json", "idempotency-key": `parts-${Date.now()}` };
      const before = fakes.graph.sent.length;
      // Graph takes both images, then refuses the text (rate limited: definitely not sent).
      const disarm = fakes.graph.refuseSend(3, GRAPH_ERRORS.rateLimit);
      const viaEdge = await fetch(`${edge.url}/api/facebook-send`, { method: "POST", headers, body });
      disarm();
      expect(viaEdge.status).toBe(429);
      expect(await json(viaEdge)).toMatchObject({ success: false, code: "FB_RATE_LIMITED", error_code: 613 });
      expect(fakes.graph.sent.length - before).toBe(2);

      const viaNode = await fetch(`${node.url}/api/facebook-send`, { method: "POST", headers, body });
      expect(viaNode.status).toBe(200);
      const answer = await json(viaNode);
      const messages = fakes.graph.sent.slice(before);
      // Graph saw each image exactly once and the text once; the answer lists all three, in order.
      expect(messages.map((message) => message.message)).toEqual([
        { attachment: { type: "image", payload: { url: images[0], is_reusable: true } } },
        { attachment: { type: "image", payload: { url: images[1], is_reusable: true } } },
        { text },
      ]);
      expect(answer).toMatchObject({
        success: true,
        used_tag: "HUMAN_AGENT",
        message_ids: messages.map((message) => message.messageId),
      });
      // And a further retry on either runtime replays that answer without sending anything.
      const replay = await fetch(`${edge.url}/api/facebook-send`, { method: "POST", headers, body });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await json(replay)).toEqual(answer);
      expect(fakes.graph.sent.length - before).toBe(3);
    });
  });
});

describe("the Worker without a reachable idempotency store", () => {
  const fakes = useStarted(startAllFakes);
  const edge = useStarted(() => startEdgeServer({ vars: gatewayEnv(fakes()) }));

  it("refuses a keyed send with 503 before sending anything", async () => {
    const pageId = FAKE_CREDENTIALS.pageIds[0];
    const response = await fetch(`${edge().url}/api/facebook-send`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "edge-no-store-0001" },
      body: JSON.stringify({
        pageId,
        psid: FAKE_CREDENTIALS.psids.inWindow,
        message: "x",
        pageToken: FAKE_CREDENTIALS.graphPageTokens[pageId],
      }),
    });
    expect(response.status).toBe(503);
    expect(await json(response)).toMatchObject({ code: "IDEMPOTENCY_STORE_UNAVAILABLE" });
    expect(fakes().graph.sent).toHaveLength(0);
  });
});
