import { describe, expect, it, vi } from "vitest";
import { canonicalJson, secretEquals, secretIn, sha256Hex } from "./crypto.js";

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 vector for abc", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("hashes the empty string", async () => {
    expect(await sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("hashes bytes as it hashes their UTF-8 text", async () => {
    expect(await sha256Hex(new TextEncoder().encode("Việt"))).toBe(await sha256Hex("Việt"));
  });
});

describe("secretEquals", () => {
  it.each([
    ["key", "key", true],
    ["", "", true],
    ["key", "kez", false],
    ["key", "key ", false],
    ["key", "ke", false],
    ["", "key", false],
  ])("compares %j with %j as %s", async (given, expected, equal) => {
    expect(await secretEquals(given, expected)).toBe(equal);
  });

  it("hashes both values before comparing, so their lengths do not matter to the loop", async () => {
    const digest = vi.spyOn(crypto.subtle, "digest");
    await secretEquals("short", "a much longer expected secret");
    expect(digest).toHaveBeenCalledTimes(2);
    expect(digest.mock.calls.map(([algorithm]) => algorithm)).toEqual(["SHA-256", "SHA-256"]);
  });
});

describe("secretIn", () => {
  it("is true when the value equals any of the secrets", async () => {
    expect(await secretIn("b", ["a", "b", "c"])).toBe(true);
  });

  it("is false when it equals none, or there are none", async () => {
    expect(await secretIn("d", ["a", "b"])).toBe(false);
    expect(await secretIn("a", [])).toBe(false);
  });
});

describe("canonicalJson", () => {
  it("sorts object keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }, 3], c: null } })).toBe(
      '{"a":{"c":null,"d":[{"y":2,"z":1},3]},"b":1}',
    );
  });

  it("gives equal text for objects that differ only in key order", () => {
    expect(canonicalJson({ pageId: "1", psid: "2", nested: { x: 1, y: 2 } })).toBe(
      canonicalJson({ nested: { y: 2, x: 1 }, psid: "2", pageId: "1" }),
    );
  });

  it("drops undefined properties like JSON.stringify", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it("writes undefined array items and a bare undefined as null", () => {
    expect(canonicalJson([undefined, 1])).toBe("[null,1]");
    expect(canonicalJson(undefined)).toBe("null");
  });

  it("escapes strings and keys as JSON does", () => {
    expect(canonicalJson({ 'k"\n': 'v"\u0000' })).toBe(JSON.stringify({ 'k"\n': 'v"\u0000' }));
  });

  it("writes primitives as JSON", () => {
    expect([canonicalJson(1.5), canonicalJson(true), canonicalJson("x"), canonicalJson(null)]).toEqual([
      "1.5",
      "true",
      '"x"',
      "null",
    ]);
  });

  it("orders keys by UTF-16 code unit, independent of locale", () => {
    expect(canonicalJson({ b: 1, B: 2, á: 3, a: 4 })).toBe('{"B":2,"a":4,"b":1,"á":3}');
  });
});
