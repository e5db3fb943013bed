import { CATCH_ALL_PATHS, OPERATION_FLAGS } from "@n2store/generated/policy";
import { describe, expect, it } from "vitest";
import { notSent } from "../src/attempt.js";
import { BASE } from "../src/failover.js";
import { pathSerializer } from "../src/path.js";
import { emitter, later } from "../src/util.js";
import { aggregateRefused, browserError, connectTimeout, nodeError } from "./helpers.js";

describe("notSent", () => {
  it.each([
    ["ECONNREFUSED in connect", nodeError("ECONNREFUSED", "connect"), true],
    ["ETIMEDOUT in connect", nodeError("ETIMEDOUT", "connect"), true],
    ["ENETUNREACH in connect", nodeError("ENETUNREACH", "connect"), true],
    ["ENOTFOUND in getaddrinfo", nodeError("ENOTFOUND", "getaddrinfo"), true],
    ["undici's connect timeout", connectTimeout(), true],
    ["a happy-eyeballs AggregateError", aggregateRefused(), true],
    ["ECONNRESET in read", nodeError("ECONNRESET", "read"), false],
    ["EPIPE in write", nodeError("EPIPE", "write"), false],
    ["undici's headers timeout", nodeError("UND_ERR_HEADERS_TIMEOUT"), false],
    ["a browser's TypeError", browserError(), false],
    ["an AbortError", new DOMException("aborted", "AbortError"), false],
    ["nothing", undefined, false],
  ])("%s -> %s", (_, error, expected) => {
    expect(notSent(error)).toBe(expected);
  });

  it("needs every address of an AggregateError to have failed in connect", () => {
    const mixed = new TypeError("fetch failed", {
      cause: new AggregateError([
        Object.assign(new Error("a"), { code: "ECONNREFUSED", syscall: "connect" }),
        Object.assign(new Error("b"), { code: "ECONNRESET", syscall: "read" }),
      ]),
    });
    expect(notSent(mixed)).toBe(false);
  });
});

describe("pathSerializer", () => {
  it("keeps the slashes of a catch-all parameter only", () => {
    expect(pathSerializer(`${BASE}/api/pancake-direct/{path}`, { path: "pages/123/conversations" })).toBe(
      `${BASE}/api/pancake-direct/pages/123/conversations`,
    );
    expect(pathSerializer(`${BASE}/api/customers/{id}`, { id: "a/b c" })).toBe(
      `${BASE}/api/customers/a%2Fb%20c`,
    );
    // Only the last `{path}` is the catch-all; any other parameter is one segment.
    expect(pathSerializer(`${BASE}/api/things/{id}/{path}`, { id: "x/y", path: "p/q" })).toBe(
      `${BASE}/api/things/x%2Fy/p/q`,
    );
  });

  it("relies on the spec's rule that the catch-all templates are exactly those ending in {path}", () => {
    const endsInPath = Object.keys(OPERATION_FLAGS).filter((template) => template.endsWith("{path}"));
    expect(endsInPath.sort()).toEqual([...CATCH_ALL_PATHS].sort());
    expect(endsInPath.length).toBeGreaterThan(3);
  });

  it("leaves a missing parameter as it was", () => {
    expect(pathSerializer(`${BASE}/api/customers/{id}`, {})).toBe(`${BASE}/api/customers/{id}`);
  });
});

describe("util", () => {
  it("makes background timers that do not keep Node alive", () => {
    const t = later(() => {}, 60_000);
    const i = later(() => {}, 60_000, true);
    try {
      expect((t as unknown as { hasRef(): boolean }).hasRef()).toBe(false);
      expect((i as unknown as { hasRef(): boolean }).hasRef()).toBe(false);
    } finally {
      clearTimeout(t);
      clearInterval(i);
    }
  });

  it("calls listeners in order until disposed", () => {
    const [on, emit] = emitter();
    const seen: string[] = [];
    const off = on("x", (e: never) => seen.push(`a${e}`));
    on("x", (e: never) => seen.push(`b${e}`));
    emit("x", 1);
    off();
    emit("x", 2);
    emit("y", 3);
    expect(seen).toEqual(["a1", "b1", "b2"]);
  });
});
