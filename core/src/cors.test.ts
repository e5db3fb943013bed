import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { corsHeaders, preflightHeaders } from "./cors.js";

const anyOrigin = loadConfig({});
const listed = loadConfig({ CORS_ALLOWED_ORIGINS: "https://shop.n2store.vn,http://localhost:5173" });

describe("corsHeaders", () => {
  it("allows any origin with * and exposes the gateway's headers, without Vary", () => {
    const headers = corsHeaders("https://anything.example", anyOrigin);
    expect(headers["access-control-allow-origin"]).toBe("*");
    expect(headers["access-control-expose-headers"]?.split(", ")).toEqual(
      expect.arrayContaining([
        "idempotent-replayed",
        "retry-after",
        "x-request-id",
        "x-token-cache",
        "x-avatar-source",
      ]),
    );
    expect(headers.vary).toBeUndefined();
    expect(headers["access-control-allow-credentials"]).toBeUndefined();
  });

  it("allows a request without an Origin under *", () => {
    expect(corsHeaders(undefined, anyOrigin)["access-control-allow-origin"]).toBe("*");
  });

  it("echoes a listed origin with Vary: Origin", () => {
    const headers = corsHeaders("http://localhost:5173", listed);
    expect(headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(headers.vary).toBe("Origin");
    expect(headers["access-control-expose-headers"]).toContain("idempotent-replayed");
  });

  it.each([
    "https://evil.example",
    "https://shop.n2store.vn.evil.example",
    "HTTPS://SHOP.N2STORE.VN",
    "null",
  ])("gives the unlisted origin %s only Vary: Origin", (origin) => {
    expect(corsHeaders(origin, listed)).toEqual({ vary: "Origin" });
  });

  it("gives a request without an Origin only Vary under a list", () => {
    expect(corsHeaders(undefined, listed)).toEqual({ vary: "Origin" });
  });
});

describe("preflightHeaders", () => {
  it("answers an allowed origin's preflight with methods, the gateway's request headers and a max age", () => {
    const headers = preflightHeaders("https://shop.n2store.vn", listed);
    expect(headers).toMatchObject({
      "access-control-allow-origin": "https://shop.n2store.vn",
      vary: "Origin",
      "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
      "access-control-max-age": "86400",
    });
    expect(headers["access-control-allow-headers"]?.split(", ")).toEqual(
      expect.arrayContaining([
        "content-type",
        "authorization",
        "x-api-key",
        "idempotency-key",
        "tposappversion",
      ]),
    );
  });

  it("answers any origin's preflight under *", () => {
    expect(
      preflightHeaders("https://anything.example", anyOrigin)["access-control-allow-methods"],
    ).toBeDefined();
  });

  it("gives an unlisted origin's preflight no allow headers", () => {
    expect(preflightHeaders("https://evil.example", listed)).toEqual({ vary: "Origin" });
  });
});
