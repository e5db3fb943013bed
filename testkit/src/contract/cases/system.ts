/** Contract cases of the `system` tag: health, the server clock and the API's own description. */
import { API_VERSION } from "@n2store/generated";
import { expect } from "vitest";
import { type ContractCase, upstreamMark, upstreamMoved } from "../context.js";
import { openapi } from "../spec.js";
import { contractCase, notServedOnEdge } from "./shared.js";

const FIVE_MINUTES = 5 * 60 * 1000;

/**
 * Request headers the shop's pages send across origins (notes/pages-calls.md; the original's
 * `shared/universal/cors-headers.js`): a preflight that leaves one out fails the page's call.
 */
const PAGE_HEADERS = [
  "Content-Type",
  "Authorization",
  "Accept",
  "Cache-Control",
  "Pragma",
  "If-None-Match",
  "If-Modified-Since",
  "If-Match",
  "If-Unmodified-Since",
  "tposappversion",
  "x-tpos-lang",
  "feature-version",
  "X-Page-Access-Token",
  "X-Auth-Data",
  "X-User-Id",
  "X-Idempotency-Key",
  "X-Web2-Token",
  "X-Web2-Zalo-Owner",
  "Idempotency-Key",
  "Range",
];

export const systemCases: ContractCase[] = [
  contractCase(
    "getHealth",
    "happy",
    "reports its own runtime, the API version, the time and whether its idempotency store answers",
    async (ctx) => {
      const response = await ctx.call("GET", "/health");
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = await ctx.json(response);
      // A Worker whose store refuses (no DATABASE_URL: a PostgreSQL that refuses every session) is
      // degraded, and says why; with a store that answers, both runtimes are ok.
      expect(body).toMatchObject({
        status: ctx.idempotencyStore ? "ok" : "degraded",
        runtime: ctx.runtime,
        version: API_VERSION,
      });
      expect(Math.abs(Date.parse(body.time) - Date.now())).toBeLessThan(FIVE_MINUTES);
      if (ctx.idempotencyStore) {
        expect(body.idempotencyStore).toEqual({
          configured: true,
          reachable: true,
          latencyMs: expect.any(Number),
        });
      } else {
        expect(body.idempotencyStore).toEqual({ configured: true, reachable: false });
      }
      if (ctx.runtime === "node") {
        expect(body.database).toMatchObject({ reachable: true });
        expect(["pglite", "postgres"]).toContain(body.database.driver);
        expect(body.realtime).toMatchObject({ isLeader: expect.any(Boolean) });
        expect(body.instanceId).toBe("contract-node");
      } else {
        expect(body.database).toBeUndefined();
      }
    },
  ),
  contractCase(
    "getHealth",
    "happy",
    "answers HEAD /health with 200 and GET's headers, without a body",
    async (ctx) => {
      const response = await ctx.call("HEAD", "/health");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(response.headers.get("x-request-id")).toBeTruthy();
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    },
  ),
  contractCase("getHealth", "happy", "ignores query parameters it does not declare", async (ctx) => {
    const response = await ctx.call("GET", "/health?probe=1&runtime=other");
    expect(response.status).toBe(200);
    expect((await ctx.json(response)).runtime).toBe(ctx.runtime);
  }),
  contractCase(
    "getHealth",
    "negative",
    "answers a method the path does not declare with 404 ROUTE_NOT_FOUND",
    async (ctx) => {
      const error = await ctx.expectError(await ctx.call("DELETE", "/health"), 404, "ROUTE_NOT_FOUND");
      expect(error.message).toContain("DELETE /health");
    },
  ),
  contractCase(
    "getHealth",
    "happy",
    "answers the CORS preflight for every header the shop's pages send (the original's list)",
    async (ctx) => {
      const response = await ctx.call("OPTIONS", "/api/odata/SaleOnline_Order", {
        headers: {
          origin: "https://nhijudyshop.github.io",
          "access-control-request-method": "POST",
          "access-control-request-headers": PAGE_HEADERS.join(","),
        },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
      const allowed = (response.headers.get("access-control-allow-headers") ?? "")
        .split(",")
        .map((name) => name.trim().toLowerCase());
      expect(allowed).toEqual(expect.arrayContaining(PAGE_HEADERS.map((name) => name.toLowerCase())));
      expect(response.headers.get("access-control-allow-methods")).toContain("PATCH");
    },
  ),
  contractCase(
    "getHealth",
    "negative",
    "answers an unknown path outside /api (which goes to TPOS) with 404 ROUTE_NOT_FOUND",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      await ctx.expectError(await ctx.call("GET", "/no-such-operation"), 404, "ROUTE_NOT_FOUND");
      await ctx.expectError(await ctx.call("POST", "/apix/token"), 404, "ROUTE_NOT_FOUND");
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),

  contractCase(
    "getServerTime",
    "happy",
    "gives the clock in consistent fields, Vietnam at +07:00",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/debug/time");
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(Math.abs(body.unix_timestamp - Date.now())).toBeLessThan(FIVE_MINUTES);
      expect(body.unix_seconds).toBe(Math.floor(body.unix_timestamp / 1000));
      expect(Date.parse(body.utc)).toBe(body.unix_timestamp);
      expect(body.vietnam_time).toMatch(/\+07:00$/);
      expect(Date.parse(body.vietnam_time)).toBe(body.unix_timestamp);
    },
  ),
  notServedOnEdge("getServerTime", "GET", () => ({ path: "/api/debug/time" })),

  contractCase("getOpenApiDocument", "happy", "serves the spec this suite was built from", async (ctx) => {
    const response = await ctx.call("GET", "/openapi.json");
    expect(response.status).toBe(200);
    const body = await ctx.json(response);
    expect(body.openapi).toBe(openapi.openapi);
    expect(body.info.version).toBe(API_VERSION);
    expect(Object.keys(body.paths).sort()).toEqual(Object.keys(openapi.paths).sort());
  }),
  notServedOnEdge("getOpenApiDocument", "GET", () => ({ path: "/openapi.json" })),

  contractCase(
    "getApiReference",
    "happy",
    "serves the Redoc page with its script from the same server",
    async (ctx) => {
      const response = await ctx.call("GET", "/docs");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/html/);
      const page = await response.text();
      expect(page).toMatch(/<html/i);
      // The page must work offline: the script comes from this server, not from a CDN.
      expect(page).toContain("redoc.standalone.js");
      expect(page).not.toMatch(/<script[^>]+src="https?:/);
    },
  ),
  notServedOnEdge("getApiReference", "GET", () => ({ path: "/docs" })),

  contractCase(
    "getApiReferenceScript",
    "happy",
    "serves the Redoc script the page names, cacheable for a day",
    async (ctx) => {
      const page = await (await ctx.call("GET", "/docs")).text();
      const src = /<script[^>]+src="([^"]+)"/.exec(page)?.[1];
      expect(src, "the page loads a script").toBe("/docs/redoc.standalone.js");
      const response = await ctx.call("GET", src as string);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/javascript/);
      expect(response.headers.get("cache-control")).toBe("public, max-age=86400");
      const script = await response.text();
      expect(script.length, "the whole bundle").toBeGreaterThan(500_000);
      expect(script).toContain("Redoc");
    },
  ),
  notServedOnEdge("getApiReferenceScript", "GET", () => ({ path: "/docs/redoc.standalone.js" })),
];
