/**
 * The pass-through lane serves the public bodyless requests ahead of Fastify (src/lane.ts). These
 * tests hold it to being invisible: a URL picks the same operation and parameters as in Fastify's
 * router, a request gets the same answer through the lane (over HTTP) as through Fastify
 * (`app.inject`, which never reaches the lane), and what the lane does not take reaches Fastify.
 */
import { type OperationSpec, operations } from "@n2store/generated";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ROUTER_OPTIONS } from "../src/lane.js";
import { type FastifyAdapter, registerFastifyRoutes } from "../src/routing.js";
import { API_KEY, type NodeServer, startNodeServer } from "./harness.js";

/** Fastify with every operation at its path, answering which one matched and what it parsed. */
async function echoRouter(): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, routerOptions: { ...ROUTER_OPTIONS } });
  const echo =
    (operation: OperationSpec): ReturnType<FastifyAdapter<unknown>["serve"]> =>
    async (request, reply) =>
      reply.send({ operationId: operation.operationId, params: request.params, query: request.query });
  registerFastifyRoutes(app, new Proxy({}, { get: () => async () => ({ status: 200 }) }) as never, {
    serve: echo,
    notServed: echo,
  });
  await app.ready();
  return app;
}

// Pass-through GETs in the spellings the pages send, and the edge cases of decoding.
const LANE_URLS = [
  "/api/rest/v2.0/FastSaleOrder/ODataService.GetView?$top=20&$filter=State%20eq%20'open'",
  "/api/odata/Product(1)?$expand=UOM&x=1&x=2",
  "/api/odata/SaleOnline_Order/ODataService.GetView?%24format=json&q=a+b",
  "/api/pancake/pages/270136663390370/conversations?access_token=abc&type=INBOX",
  "/api/pancake-direct/pages?jwt=abc&page_id=1",
  "/api/pancake-official/pages/1/conversations?page_access_token=abc",
  "/api/rest/v2.0/Partner/%C4%90%E1%BB%97%20Th%E1%BB%8B",
  "/api/rest/a%2Fb/c",
  "/api/rest/a/",
  "/api/rest//a",
  "/api/rest/a%3Bb",
  "/api/fastsaleorder/print1?ids=1,2",
  "/api/proxy?url=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1&headers=%7B%7D",
  "/api/image-proxy?url=https%3A%2F%2Fcdn.example%2Fa.jpg&w=900&q=70",
  "/api/fb-avatar?id=123&page=456",
  "/api/pancake-avatar?hash=abc",
  "/api/token",
  "/api/rest/v2.0/x?a=%ZZ",
];

describe("the lane's routing", () => {
  let server: NodeServer;
  let fastify: FastifyInstance;
  beforeAll(async () => {
    server = await startNodeServer();
    fastify = await echoRouter();
  });
  afterAll(async () => {
    await fastify.close();
    await server.close();
  });

  it.each(LANE_URLS)("routes GET %s to the operation and parameters Fastify would", async (url) => {
    const found = server.app.passThroughLane.find("GET", url);
    const response = await fastify.inject({ method: "GET", url });
    const echoed = response.json() as { operationId: string; params: unknown; query: unknown };
    if (found === null) {
      // Not the lane's: then it is not a public bodyless operation in Fastify either.
      const operation = Object.values(operations).find((op) => op.operationId === echoed.operationId);
      expect(operation?.security.length ?? 1).toBeGreaterThan(0);
      return;
    }
    expect(response.statusCode).toBe(200);
    expect({
      operationId: found.operation.operationId,
      params: { ...found.params },
      query: { ...found.query },
    }).toEqual(echoed);
  });

  it("takes the public pass-through GETs (so the comparison above is not empty)", () => {
    const taken = LANE_URLS.filter((url) => server.app.passThroughLane.find("GET", url) !== null);
    expect(taken.length).toBeGreaterThanOrEqual(LANE_URLS.length - 1);
  });

  it.each([
    ["a path that is not valid percent-encoding", "/api/rest/%E0%A4%A"],
    ["an operation behind the API key", "/api/customers"],
    ["a path outside the spec", "/nowhere"],
  ])("leaves %s to Fastify", (_name, url) => {
    expect(server.app.passThroughLane.find("GET", url)).toBeNull();
  });
});

describe("the lane's answers", () => {
  let server: NodeServer;
  beforeAll(async () => {
    server = await startNodeServer();
  });
  afterAll(async () => {
    await server.close();
  });

  /** The headers both paths must agree on: all but the connection's and the clock's. */
  function comparable(headers: Record<string, unknown>): Record<string, unknown> {
    const { date: _date, connection: _connection, "keep-alive": _keepAlive, ...rest } = headers;
    return rest;
  }

  const tpos = () => new URL(server.fakes.tpos.url);
  const cases: [string, () => string][] = [
    ["a TPOS pass-through", () => "/api/rest/v2.0/FastSaleOrder/ODataService.GetView?$top=2"],
    ["a TPOS OData read", () => "/api/odata/Product?$top=1"],
    ["a path that climbs out of the prefix", () => "/api/rest/a/%2E%2E/b"],
    ["a ';' path parameter", () => "/api/rest/a%3Bb"],
    ["one of the gateway's own segments", () => "/api/token/x"],
    ["the generic proxy without a url", () => "/api/proxy"],
    ["the generic proxy to a host that is not allowed", () => "/api/proxy?url=http%3A%2F%2F10.0.0.1%2Fa"],
    [
      "the generic proxy to an allowed host",
      () => `/api/proxy?url=${encodeURIComponent(`${tpos().origin}/rest/v2.0/x`)}`,
    ],
    ["an avatar with an odd id", () => "/api/fb-avatar?id=not-a-number"],
    ["a catch-all path over 2048 characters", () => `/api/rest/${"a".repeat(2049)}`],
  ];

  it.each(cases)("answers %s through the lane as Fastify does", async (_name, path) => {
    const url = path();
    const requestId = `lane-test-${Math.random().toString(36).slice(2, 10)}`;
    const headers = { "x-request-id": requestId, origin: "https://nhijudyshop.github.io" };
    const lane = vi.spyOn(server.app.passThroughLane, "handle");
    const viaLane = await fetch(`${server.url}${url}`, { headers });
    const laneBody = Buffer.from(await viaLane.arrayBuffer());
    const taken = lane.mock.results.some((result) => result.value === true);
    lane.mockRestore();
    const viaFastify = await server.app.inject({ method: "GET", url, headers });
    expect(viaLane.status).toBe(viaFastify.statusCode);
    expect(comparable(Object.fromEntries(viaLane.headers))).toEqual(
      comparable(viaFastify.headers as Record<string, unknown>),
    );
    expect(laneBody.equals(viaFastify.rawPayload)).toBe(true);
    expect(taken).toBe(true);
  });

  it.each([
    ["HEAD", { method: "HEAD" }],
    ["a DELETE with a body", { method: "DELETE", body: "x", headers: { "content-type": "text/plain" } }],
    [
      "an operation behind the API key",
      { method: "GET", path: "/api/customers", headers: { "x-api-key": API_KEY } },
    ],
    [
      "a preflight",
      { method: "OPTIONS", headers: { origin: "https://a.example", "access-control-request-method": "GET" } },
    ],
  ] as const)("leaves %s to Fastify, which answers it", async (_name, request) => {
    const lane = vi.spyOn(server.app.passThroughLane, "handle");
    const path = "path" in request ? request.path : "/api/rest/v2.0/x";
    const response = await fetch(`${server.url}${path}`, {
      method: request.method,
      ...("headers" in request ? { headers: request.headers } : {}),
      ...("body" in request ? { body: request.body } : {}),
    });
    await response.arrayBuffer();
    expect(lane).toHaveBeenCalledTimes(1);
    expect(lane.mock.results[0]?.value).toBe(false);
    lane.mockRestore();
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get("x-request-id")).toBeTruthy();
  });
});
