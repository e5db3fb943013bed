import { describe, expect, it } from "vitest";
import { redactUrl } from "./redact.js";

const TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiI1YjFkIn0.c2ln";

describe("redactUrl", () => {
  it.each([
    [
      "a plain jwt",
      `/api/pancake-direct/pages?jwt=${TOKEN}&page_id=1`,
      "/api/pancake-direct/pages?jwt=[redacted]&page_id=1",
    ],
    [
      "access_token",
      `/api/pancake/pages?access_token=${TOKEN}`,
      "/api/pancake/pages?access_token=[redacted]",
    ],
    [
      "page_access_token",
      `/api/pancake-official/x?page_access_token=${TOKEN}&since=1`,
      "/api/pancake-official/x?page_access_token=[redacted]&since=1",
    ],
    [
      "a percent-encoded name",
      `/api/pancake-direct/pages?%6Awt=${TOKEN}`,
      "/api/pancake-direct/pages?%6Awt=[redacted]",
    ],
    [
      "a double-encoded name",
      `/api/pancake/pages?%2561ccess_token=${TOKEN}`,
      "/api/pancake/pages?%2561ccess_token=[redacted]",
    ],
    ["an upper-case name", `/api/fb-avatar?id=1&TOKEN=${TOKEN}`, "/api/fb-avatar?id=1&TOKEN=[redacted]"],
    [
      "a token inside the encoded url= of /api/proxy",
      `/api/proxy?url=${encodeURIComponent(`https://graph.facebook.com/me?access_token=${TOKEN}`)}`,
      "/api/proxy?url=[redacted]",
    ],
    [
      "a token inside a double-encoded url= of /api/image-proxy",
      `/api/image-proxy?url=${encodeURIComponent(encodeURIComponent(`https://pancake.vn/a.jpg?jwt=${TOKEN}`))}`,
      "/api/image-proxy?url=[redacted]",
    ],
    [
      "an encoded name inside the url= value",
      `/api/proxy?url=${encodeURIComponent(`https://pancake.vn/x?a=1&%6Awt=${TOKEN}`)}`,
      "/api/proxy?url=[redacted]",
    ],
    [
      "credentials in the url= value's userinfo",
      `/api/proxy?url=${encodeURIComponent("https://user:pass@pancake.vn/x")}`,
      "/api/proxy?url=[redacted]",
    ],
  ])("removes %s", (_what, url, logged) => {
    const out = redactUrl(url);
    expect(out).toBe(logged);
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(encodeURIComponent(TOKEN));
  });

  it("keeps the path and every harmless parameter byte for byte", () => {
    const url =
      "/api/odata/SaleOnline_Order/ODataService.GetView?$top=20&$filter=(DateCreated%20ge%202026-04-13)&q=a+b";
    expect(redactUrl(url)).toBe(url);
    const image = `/api/image-proxy?url=${encodeURIComponent("https://content.pancake.vn/2.1-24/avatars/ab.jpg?w=40")}&w=900&q=70`;
    expect(redactUrl(image)).toBe(image);
    expect(redactUrl("/health")).toBe("/health");
  });

  it("leaves malformed escapes as they are rather than failing", () => {
    expect(redactUrl("/api/rest/x?a=%E0%A4%A&jwt=%E0")).toBe("/api/rest/x?a=%E0%A4%A&jwt=[redacted]");
  });
});
