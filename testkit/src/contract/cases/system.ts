/** Contract cases of the `system` tag: health, the server clock and the API's own description. */
import { API_VERSION } from "@n2store/generated";
import { expect } from "vitest";
import { API_KEY } from "../../servers/index.js";
import { type CaseContext, type ContractCase, upstreamMark, upstreamMoved } from "../context.js";
import { openapi } from "../spec.js";
import { apiKeyNegatives, contractCase, notServedOnEdge } from "./shared.js";

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

/** GET /metrics as Prometheus scrapes it: the API key as a Bearer token. */
async function scrape(ctx: CaseContext): Promise<string> {
  const response = await ctx.call("GET", "/metrics", { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of one sample of the exposition (0 when the series is not there yet). */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** One sample of the exposition: its name, labels and value. */
interface Sample {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

/** A series' key without `le`: the histogram a bucket belongs to. */
function seriesKey(name: string, labels: ReadonlyMap<string, string>): string {
  const rest = [...labels].filter(([label]) => label !== "le").sort(([a], [b]) => a.localeCompare(b));
  return `${name}{${rest.map(([label, value]) => `${label}=${JSON.stringify(value)}`).join(",")}}`;
}

/**
 * The exposition format 0.0.4, line by line: every sample is `name{label="value",…} number`, after
 * the `# HELP` and `# TYPE` of its family; a histogram's buckets only grow and end at `+Inf`, equal to
 * its `_count`. Returns the families' types.
 */
function parseExposition(text: string): Map<string, string> {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  expect(text.endsWith("\n"), "the exposition ends with a newline").toBe(true);
  for (const line of text.trimEnd().split("\n")) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type !== null) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    // Blank lines are allowed (and ignored) between families.
    if (line === "" || line.startsWith("# HELP ")) {
      continue;
    }
    // Values as Go's ParseFloat reads them (Prometheus's rule): NaN in any case. prom-client writes
    // `Nan` for its event-loop lag when two scrapes come within the monitor's 10 ms resolution.
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)$/.exec(
      line,
    );
    expect(match, `a sample line: ${line}`).not.toBeNull();
    const [, name = "", body = "", value = ""] = match ?? [];
    const labels = new Map<string, string>();
    const pairs = body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)/g);
    let consumed = 0;
    for (const pair of pairs) {
      labels.set(pair[1] as string, pair[2] as string);
      consumed += pair[0].length;
    }
    expect(consumed, `the labels of ${line}`).toBe(body.length);
    const family = [...types.keys()].find(
      (known) => name === known || /^_(bucket|sum|count|total|created)$/.test(name.slice(known.length)),
    );
    expect(family, `${name} comes after the # TYPE of its family`).toBeDefined();
    samples.push({ name, labels, value: Number(value) });
  }
  const last = new Map<string, number>();
  for (const { name, labels, value } of samples) {
    if (!name.endsWith("_bucket")) {
      continue;
    }
    const key = seriesKey(name.slice(0, -"_bucket".length), labels);
    expect(value, `the buckets of ${key} only grow`).toBeGreaterThanOrEqual(last.get(key) ?? 0);
    last.set(key, value);
    if (labels.get("le") === "+Inf") {
      const count = samples.find(
        (other) =>
          other.name === name.replace(/_bucket$/, "_count") &&
          seriesKey(name.slice(0, -"_bucket".length), other.labels) === key,
      );
      expect(count?.value, `${key}: +Inf equals _count`).toBe(value);
    }
  }
  return types;
}

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
  contractCase(
    "getHealth",
    "happy",
    "keeps a caller's well-formed X-Request-Id and replaces any other with its own",
    async (ctx) => {
      const kept = await ctx.call("GET", "/health", { headers: { "x-request-id": "page-req.42_A" } });
      expect(kept.headers.get("x-request-id")).toBe("page-req.42_A");
      for (const sent of ["x".repeat(65), "two words", "a/b"]) {
        const replaced = await ctx.call("GET", "/health", { headers: { "x-request-id": sent } });
        const id = replaced.headers.get("x-request-id");
        expect(id, sent).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
        expect(id, sent).not.toBe(sent);
        await replaced.arrayBuffer();
      }
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
          "x-request-id": "preflight-1",
        },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
      expect(response.headers.get("x-request-id")).toBe("preflight-1");
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

  contractCase(
    "getMetrics",
    "happy",
    "counts the requests it answered, by operation and status, with their durations, in Prometheus's text format",
    async (ctx) => {
      const requests = 'n2store_http_requests_total{operation="getHealth",status="200"}';
      const durations = 'n2store_http_request_duration_seconds_count{operation="getHealth"}';
      const before = await scrape(ctx);
      for (let n = 0; n < 3; n++) {
        await (await ctx.call("GET", "/health")).arrayBuffer();
      }
      await ctx.expectError(await ctx.call("GET", "/no-such-operation"), 404, "ROUTE_NOT_FOUND");
      const response = await ctx.call("GET", "/metrics", { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const after = await response.text();
      const types = parseExposition(after);
      expect(sample(after, requests) - sample(before, requests)).toBe(3);
      expect(sample(after, durations) - sample(before, durations)).toBe(3);
      expect(
        sample(after, 'n2store_http_requests_total{operation="unmatched",status="404"}'),
      ).toBeGreaterThan(sample(before, 'n2store_http_requests_total{operation="unmatched",status="404"}'));
      // The first scrape is counted once it is answered.
      expect(
        sample(after, 'n2store_http_requests_total{operation="getMetrics",status="200"}'),
      ).toBeGreaterThanOrEqual(1);
      for (const [family, type] of [
        ["n2store_http_requests_total", "counter"],
        ["n2store_http_request_duration_seconds", "histogram"],
        ["n2store_upstream_requests_total", "counter"],
        ["n2store_upstream_request_duration_seconds", "histogram"],
        ["n2store_tpos_token_cache_total", "counter"],
        ["n2store_idempotency_total", "counter"],
        ["n2store_sepay_deliveries_total", "counter"],
        ["n2store_realtime_browser_sockets", "gauge"],
        ["n2store_realtime_leader", "gauge"],
        ["n2store_realtime_upstream_state", "gauge"],
        ["n2store_db_pool", "gauge"],
        ["process_cpu_seconds_total", "counter"],
      ] as const) {
        expect(types.get(family), family).toBe(type);
      }
      // Exactly one state of the Pancake socket is current.
      const states = after.split("\n").filter((line) => line.startsWith("n2store_realtime_upstream_state{"));
      expect(states.map((line) => Number(line.split(" ")[1])).reduce((a, b) => a + b, 0)).toBe(1);
    },
  ),
  contractCase(
    "getMetrics",
    "happy",
    "counts upstream calls by upstream and outcome, and TPOS tokens served from the cache",
    async (ctx) => {
      const tposOk = 'n2store_upstream_requests_total{upstream="tpos",outcome="2xx"}';
      const hits = 'n2store_tpos_token_cache_total{result="hit"}';
      await ctx.tposToken();
      const before = await scrape(ctx);
      const authorization = `Bearer ${await ctx.tposToken()}`;
      const response = await ctx.call("GET", "/api/odata/Product", { headers: { authorization } });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      const after = await scrape(ctx);
      expect(sample(after, tposOk) - sample(before, tposOk)).toBe(1);
      expect(sample(after, hits) - sample(before, hits)).toBe(1);
      expect(
        sample(after, 'n2store_upstream_request_duration_seconds_count{upstream="tpos"}'),
      ).toBeGreaterThan(sample(before, 'n2store_upstream_request_duration_seconds_count{upstream="tpos"}'));
    },
  ),
  contractCase("getMetrics", "happy", "accepts the API key as x-api-key too", async (ctx) => {
    const response = await ctx.call("GET", "/metrics", { headers: { "x-api-key": API_KEY } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("# TYPE n2store_http_requests_total counter");
  }),
  ...apiKeyNegatives("getMetrics", "GET", () => ({
    path: "/metrics",
    init: { headers: { authorization: `Bearer ${API_KEY}` } },
  })),
  notServedOnEdge("getMetrics", "GET", () => ({
    path: "/metrics",
    init: { headers: { authorization: `Bearer ${API_KEY}` } },
  })),
];
