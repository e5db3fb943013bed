import { ERROR_CODE_VALUES } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import { ApiError, asApiError, ERROR_STATUSES, isApiError, reasonPhrase, toErrorBody } from "./errors.js";

describe("ERROR_STATUSES", () => {
  it("has exactly the codes of the spec's ErrorCode enum, both ways", () => {
    expect(Object.keys(ERROR_STATUSES).sort()).toEqual([...ERROR_CODE_VALUES].sort());
  });

  it("gives every code a 4xx or 5xx status with its own reason phrase", () => {
    for (const [code, status] of Object.entries(ERROR_STATUSES)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(reasonPhrase(status), code).not.toMatch(/^(Client|Server) Error$/);
    }
  });
});

describe("ApiError", () => {
  it("renders the one error body with the code's status and reason", () => {
    const error = new ApiError("CUSTOMER_NOT_FOUND", "Customer 4 does not exist.");
    expect(toErrorBody(error, "req-1")).toEqual({
      success: false,
      statusCode: 404,
      code: "CUSTOMER_NOT_FOUND",
      error: "Not Found",
      message: "Customer 4 does not exist.",
      requestId: "req-1",
    });
  });

  it("keeps the details, with the code's one status", () => {
    const error = new ApiError("TPOS_TOKEN_REJECTED", "no", {
      details: [{ message: "x", code: 1 }],
    });
    expect(toErrorBody(error)).toMatchObject({
      statusCode: 401,
      error: "Unauthorized",
      details: [{ message: "x" }],
    });
  });

  it("is recognised by its brand, not by class identity", () => {
    expect(isApiError(new ApiError("INTERNAL", "x"))).toBe(true);
    expect(isApiError({ isApiError: true })).toBe(true);
    expect(isApiError(new Error("x"))).toBe(false);
  });

  it("hides unexpected failures behind a generic 500", () => {
    const error = asApiError(new TypeError("secret detail"));
    expect(error.status).toBe(500);
    expect(error.code).toBe("INTERNAL");
    expect(error.message).not.toContain("secret");
    expect(error.cause).toBeInstanceOf(TypeError);
  });
});
