import { describe, expect, it } from "vitest";
import { acceptedRequestId, mediaType } from "./http.js";

describe("mediaType", () => {
  it.each([
    ["application/json", "application/json"],
    ["Application/JSON; charset=utf-8", "application/json"],
    ["  text/plain ;q=1", "text/plain"],
    ["", null],
    [" ; charset=utf-8", null],
    [null, null],
    [undefined, null],
  ])("reads %j as %j", (header, type) => {
    expect(mediaType(header)).toBe(type);
  });
});

describe("acceptedRequestId", () => {
  it.each(["a", "req-1", "A.b_C-9", "x".repeat(64), "0af7651916cd43dd8448eb211c80319c"])("keeps %j", (id) => {
    expect(acceptedRequestId(id)).toBe(id);
  });

  it.each([
    ["nothing", null],
    ["no header", undefined],
    ["an empty one", ""],
    ["65 characters", "x".repeat(65)],
    ["a space", "req 1"],
    ["a slash", "a/b"],
    ["a line break (log injection)", "a\nb"],
    ["non-ASCII", "réq"],
  ])("replaces %s", (_what, header) => {
    expect(acceptedRequestId(header)).toBeUndefined();
  });
});
