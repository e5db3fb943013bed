import { describe, expect, it } from "vitest";
import { readErrorCodes } from "../codegen/index.js";

/** The smallest spec codegen's error-code reader looks at. */
const spec = (
  statuses: Record<string, unknown>,
  codes = ["A_FAILED", "B_MISSING"],
): Parameters<typeof readErrorCodes>[0] =>
  ({
    openapi: "3.1.0",
    components: { schemas: { ErrorCode: { type: "string", enum: codes, "x-error-statuses": statuses } } },
  }) as unknown as Parameters<typeof readErrorCodes>[0];

describe("readErrorCodes", () => {
  it("reads every code with its status, in the enum's order", () => {
    expect(readErrorCodes(spec({ B_MISSING: 404, A_FAILED: 400 }))).toEqual([
      { code: "A_FAILED", status: 400 },
      { code: "B_MISSING", status: 404 },
    ]);
  });

  it.each([
    [
      "a code without a status",
      { A_FAILED: 400 },
      "ErrorCode B_MISSING: x-error-statuses must give it an HTTP status",
    ],
    ["a status that is not an error status", { A_FAILED: 400, B_MISSING: 302 }, "ErrorCode B_MISSING"],
    ["a status that is not a number", { A_FAILED: "400", B_MISSING: 404 }, "ErrorCode A_FAILED"],
    [
      "a status for no code",
      { A_FAILED: 400, B_MISSING: 404, C_GONE: 410 },
      "names C_GONE, which the enum does not have",
    ],
  ])("refuses %s, naming the code", (_what, statuses, message) => {
    expect(() => readErrorCodes(spec(statuses))).toThrow(message);
  });
});
