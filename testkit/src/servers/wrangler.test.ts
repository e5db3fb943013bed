import { describe, expect, it } from "vitest";
import { hyperdriveLocalUrl } from "./wrangler.js";

describe("hyperdriveLocalUrl", () => {
  it("keeps a URL that has a user and a password", () => {
    const url = "postgres://app:s3cret@127.0.0.1:5432/shop";
    expect(hyperdriveLocalUrl(url, {})).toBe(url);
  });

  it("gives a URL without a password PGPASSWORD, or a placeholder a trust-auth server ignores", () => {
    expect(hyperdriveLocalUrl("postgres://app@127.0.0.1:5432/shop", { PGPASSWORD: "pw" })).toBe(
      "postgres://app:pw@127.0.0.1:5432/shop",
    );
    expect(hyperdriveLocalUrl("postgres://app@127.0.0.1:5432/shop", {})).toBe(
      "postgres://app:unused@127.0.0.1:5432/shop",
    );
  });

  it("gives a URL without a user PGUSER, else postgres", () => {
    expect(hyperdriveLocalUrl("postgresql://127.0.0.1/shop", {})).toBe(
      "postgresql://postgres:unused@127.0.0.1/shop",
    );
    expect(hyperdriveLocalUrl("postgresql://127.0.0.1/shop", { PGUSER: "me" })).toBe(
      "postgresql://me:unused@127.0.0.1/shop",
    );
  });
});
