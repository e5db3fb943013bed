import { describe, expect, it } from "vitest";
import { isApiError } from "./errors.js";
import { JSON_MAX_DEPTH, jsonTooDeep, parseJsonBody } from "./json.js";

const nested = (depth: number, open = "[", close = "]") => `${open.repeat(depth)}${close.repeat(depth)}`;

describe("jsonTooDeep", () => {
  it("allows exactly the limit and refuses one more, arrays or objects", () => {
    expect(jsonTooDeep(nested(JSON_MAX_DEPTH))).toBe(false);
    expect(jsonTooDeep(nested(JSON_MAX_DEPTH + 1))).toBe(true);
    const objects = `${'{"a":'.repeat(JSON_MAX_DEPTH + 1)}1${"}".repeat(JSON_MAX_DEPTH + 1)}`;
    expect(jsonTooDeep(objects)).toBe(true);
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify({ message: `${"[".repeat(500)}\\"${"{".repeat(500)}` });
    expect(jsonTooDeep(text)).toBe(false);
  });

  it("measures the deepest branch, not the total number of brackets", () => {
    const wide = `[${Array.from({ length: 1000 }, () => "[[1]]").join(",")}]`;
    expect(jsonTooDeep(wide)).toBe(false);
  });
});

describe("parseJsonBody", () => {
  it("parses ordinary JSON", () => {
    expect(parseJsonBody('{"pageId":"1","message":"Dạ [ok]"}')).toEqual({ pageId: "1", message: "Dạ [ok]" });
  });

  it("refuses 100 000 nested arrays with 400 VALIDATION_FAILED naming the body, without overflowing", () => {
    try {
      parseJsonBody(nested(100_000));
      expect.unreachable();
    } catch (error) {
      expect(isApiError(error) && error.code).toBe("VALIDATION_FAILED");
      expect(isApiError(error) && error.details).toEqual([
        { path: ["body"], message: `is nested more than ${JSON_MAX_DEPTH} levels deep` },
      ]);
    }
  });

  it("refuses text that is not JSON with 400 MALFORMED_BODY", () => {
    expect(() => parseJsonBody("{nope")).toThrow(expect.objectContaining({ code: "MALFORMED_BODY" }));
  });
});
