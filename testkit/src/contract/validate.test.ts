import type { OperationId } from "@n2store/generated";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { schemaArbitrary } from "./arbitrary.js";
import { contractCases } from "./cases/index.js";
import { HEALTH_SAMPLE } from "./samples.js";
import type { JsonSchema } from "./spec.js";
import { specOperations } from "./spec.js";
import { coverageProblems } from "./suite.js";
import { ResponseValidator } from "./validate.js";

const validator = new ResponseValidator();
const base = "http://127.0.0.1:1";
const json = "application/json; charset=utf-8";

function check(
  method: string,
  path: string,
  status: number,
  body: unknown,
  options: { type?: string | null; upstreamReached?: boolean; headers?: Record<string, string> } = {},
) {
  const headers = new Headers(options.headers);
  const type = options.type === undefined ? json : options.type;
  if (type !== null) {
    headers.set("content-type", type);
  }
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  return validator.check({
    method,
    url: `${base}${path}`,
    status,
    headers,
    body: new TextEncoder().encode(text),
    upstreamReached: options.upstreamReached ?? false,
  });
}

const error = (statusCode: number, code: string, extra: Record<string, unknown> = {}) => ({
  success: false,
  statusCode,
  code,
  error: "x",
  message: "y",
  ...extra,
});

describe("ResponseValidator", () => {
  it("accepts a declared success whose body matches its schema", () => {
    const verdict = check("GET", "/health", 200, HEALTH_SAMPLE);
    expect(verdict).toMatchObject({ operationId: "getHealth", declared: "200", violations: [] });
  });

  it("flags a status the operation does not declare (a 500)", () => {
    const verdict = check("GET", "/health", 500, error(500, "INTERNAL"));
    expect(verdict.violations.join()).toContain("getHealth does not declare 500");
  });

  it("flags a body with a field its schema does not have", () => {
    const verdict = check("GET", "/health", 200, { ...HEALTH_SAMPLE, surprise: 1 });
    expect(verdict.violations.join()).toContain("must NOT have additional properties");
  });

  it("flags a gateway error that is not the Error shape (Fastify's own body)", () => {
    const verdict = check("GET", "/api/customers/%E0", 400, {
      error: "Bad Request",
      code: "FST_ERR_BAD_URL",
      message: "x",
      statusCode: 400,
    });
    expect(verdict.violations.join()).toContain("not the Error shape");
  });

  it("flags an Error whose statusCode or code does not belong with the status", () => {
    expect(
      check("GET", "/api/customers/1", 404, error(400, "CUSTOMER_NOT_FOUND")).violations.join(),
    ).toContain("Error.statusCode is 400");
    expect(
      check("GET", "/api/customers/1", 404, error(404, "VALIDATION_FAILED")).violations.join(),
    ).toContain("VALIDATION_FAILED belongs with 400");
  });

  it("flags an Error whose requestId differs from X-Request-Id", () => {
    const verdict = check(
      "GET",
      "/api/customers/1",
      404,
      error(404, "CUSTOMER_NOT_FOUND", { requestId: "a" }),
      {
        headers: { "x-request-id": "b" },
      },
    );
    expect(verdict.violations.join()).toContain("differs from X-Request-Id");
  });

  it("accepts an upstream's own answer on a pass-through, only when an upstream was reached", () => {
    const body = { Message: "Authorization has been denied for this request." };
    const reached = check("GET", "/api/rest/v2.0/x", 401, body, { upstreamReached: true });
    expect(reached).toMatchObject({ declared: "default", passthrough: true, violations: [] });
    const own = check("GET", "/api/rest/v2.0/x", 401, body, { upstreamReached: false });
    expect(own.violations.join()).toContain("without reaching an upstream");
  });

  it("holds a pass-through's declared gateway statuses to the Error shape unless the upstream answered", () => {
    const upstream400 = { error: { code: "400", message: "bad $filter" } };
    expect(
      check("GET", "/api/odata/Product", 400, upstream400, { upstreamReached: true }).violations,
    ).toEqual([]);
    expect(
      check("GET", "/api/odata/Product", 400, upstream400, { upstreamReached: false }).violations.join(),
    ).toContain("not the Error shape");
  });

  it("flags a content type the response does not declare", () => {
    const verdict = check("GET", "/api/image-proxy?url=x", 200, "<html>", { type: "text/html" });
    expect(verdict.violations.join()).toContain("content type text/html is not declared");
  });

  it("matches a declared media type with parameters only when the response carries them", () => {
    const metrics = "# TYPE n2store_http_requests_total counter\n";
    const accepted = check("GET", "/metrics", 200, metrics, {
      type: "text/plain; version=0.0.4; charset=utf-8",
    });
    expect(accepted).toMatchObject({ operationId: "getMetrics", declared: "200", violations: [] });
    expect(
      check("GET", "/metrics", 200, metrics, { type: "text/plain; charset=utf-8" }).violations.join(),
    ).toContain("content type text/plain; charset=utf-8 is not declared (text/plain; version=0.0.4)");
    expect(
      check("GET", "/metrics", 200, metrics, { type: "text/plain; version=1.0.0" }).violations.join(),
    ).toContain("is not declared");
  });

  it("flags a body on a response that declares none (204)", () => {
    expect(check("DELETE", "/api/customers/1", 204, "", { type: null }).violations).toEqual([]);
    expect(check("DELETE", "/api/customers/1", 204, "{}").violations.join()).toContain("declares no body");
  });

  it("requires the gateway's 4xx Error for a path no operation has", () => {
    expect(check("GET", "/nope", 404, error(404, "ROUTE_NOT_FOUND")).violations).toEqual([]);
    expect(check("GET", "/nope", 200, { ok: true }).violations.join()).toContain("not a 4xx");
  });

  it("holds HEAD to GET's statuses, without a body", () => {
    expect(check("HEAD", "/health", 200, "", { type: "application/json" }).violations).toEqual([]);
    expect(check("HEAD", "/health", 200, "{}").violations.join()).toContain("HEAD answer has a body");
    expect(check("HEAD", "/health", 404, "", { type: null }).violations.join()).toContain("does not declare");
  });

  it("accepts a CORS preflight's empty 204 on any path, and flags one with a body", () => {
    expect(check("OPTIONS", "/api/rest/x", 204, "", { type: null }).violations).toEqual([]);
    expect(check("OPTIONS", "/api/rest/x", 204, "{}").violations.join()).toContain("preflight");
    expect(check("OPTIONS", "/api/rest/x", 200, { ok: true }).violations.join()).toContain("not a 4xx");
  });
});

describe("schemaArbitrary", () => {
  it("generates only values valid against every request schema of the spec", () => {
    for (const operation of specOperations) {
      const schemas: [string, JsonSchema][] = [
        ...operation.parameters.map((p): [string, JsonSchema] => [`${p.in} ${p.name}`, p.schema ?? true]),
        ...Object.entries(operation.requestBody?.content ?? {}).map(([type, m]): [string, JsonSchema] => [
          `body ${type}`,
          m.schema ?? true,
        ]),
      ];
      for (const [where, schema] of schemas) {
        for (const value of fc.sample(schemaArbitrary(schema), { seed: 7, numRuns: 25 })) {
          expect(
            validator.validate(schema, value),
            `${operation.id} ${where}: ${JSON.stringify(value)}`,
          ).toEqual([]);
        }
      }
    }
  });
});

describe("coverage gate", () => {
  it("passes with every case and lists an operation whose cases are gone", () => {
    expect(coverageProblems(contractCases, "node")).toEqual([]);
    expect(coverageProblems(contractCases, "edge")).toEqual([]);
    const without = (id: OperationId) => contractCases.filter((c) => c.operationId !== id);
    expect(coverageProblems(without("tposODataPatch"), "edge")).toEqual([
      "tposODataPatch: no happy-path case on edge",
      "tposODataPatch: no negative case on edge",
    ]);
    expect(coverageProblems(without("listCustomers"), "edge")).toEqual([
      "listCustomers: no case for the edge's 501 NOT_SERVED_BY_RUNTIME",
    ]);
  });
});
