import { type OperationSpec, operations } from "@n2store/generated";
import { describe, expect, it, vi } from "vitest";
import { authorize, clientKey } from "./auth.js";
import { FAILURE_LIMIT, MemoryFailureLimiter } from "./limits/failure-limiter.js";
import { testDeps } from "./testing/deps.js";

const op = operations as unknown as Record<string, OperationSpec>;
const listCustomers = op.listCustomers as OperationSpec;
const receiveSepayWebhook = op.receiveSepayWebhook as OperationSpec;
const getHealth = op.getHealth as OperationSpec;

describe("authorize", () => {
  const config = testDeps({ env: { N2STORE_API_KEYS: "key-one,key-two", SEPAY_API_KEY: "sepay-key" } });

  it("lets a public operation through without any key configured", async () => {
    await expect(authorize(getHealth, {}, testDeps())).resolves.toBeUndefined();
  });

  it.each([
    ["x-api-key", { "x-api-key": "key-two" }],
    ["x-api-key with spaces", { "x-api-key": "  key-one " }],
    ["Authorization: Bearer", { authorization: "Bearer key-one" }],
    ["authorization: bearer (any case)", { authorization: "bearer key-two" }],
  ])("accepts a configured key sent as %s", async (_how, headers) => {
    await expect(authorize(listCustomers, headers, config)).resolves.toBeUndefined();
  });

  it.each([
    ["a wrong x-api-key", { "x-api-key": "key-three" }, "The API key is not valid."],
    ["a wrong bearer token", { authorization: "Bearer nope" }, "The API key is not valid."],
    ["a key prefix", { "x-api-key": "key-on" }, "The API key is not valid."],
    ["no key", {}, "This operation needs an API key: send it as x-api-key or Authorization: Bearer."],
    [
      "another Authorization scheme",
      { authorization: "Basic a2V5LW9uZQ==" },
      "This operation needs an API key: send it as x-api-key or Authorization: Bearer.",
    ],
  ])("refuses %s with 401 UNAUTHORIZED", async (_what, headers, message) => {
    await expect(authorize(listCustomers, headers, config)).rejects.toMatchObject({
      code: "UNAUTHORIZED",
      status: 401,
      message,
      nothingSent: true,
    });
  });

  it("prefers x-api-key over a bearer token", async () => {
    await expect(
      authorize(listCustomers, { "x-api-key": "wrong", authorization: "Bearer key-one" }, config),
    ).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("refuses every call with a clear message when no API keys are configured", async () => {
    await expect(authorize(listCustomers, { "x-api-key": "anything" }, testDeps())).rejects.toMatchObject({
      code: "UNAUTHORIZED",
      message: expect.stringContaining("N2STORE_API_KEYS"),
    });
  });

  it("compares the given key with every configured key through SHA-256, without stopping at a match", async () => {
    const digest = vi.spyOn(crypto.subtle, "digest");
    await authorize(listCustomers, { "x-api-key": "key-one" }, config);
    // secretEquals hashes both sides; both configured keys are compared even though the first matches.
    expect(digest).toHaveBeenCalledTimes(4);
    expect(digest.mock.calls.every(([algorithm]) => algorithm === "SHA-256")).toBe(true);
  });

  describe("SePay", () => {
    it.each(["Apikey sepay-key", "apikey sepay-key", "APIKEY   sepay-key  "])(
      "accepts %j",
      async (authorization) => {
        await expect(authorize(receiveSepayWebhook, { authorization }, config)).resolves.toBeUndefined();
      },
    );

    it("refuses another scheme", async () => {
      await expect(
        authorize(receiveSepayWebhook, { authorization: "Bearer sepay-key" }, config),
      ).rejects.toMatchObject({
        code: "UNAUTHORIZED",
        message: "SePay must send Authorization: Apikey <key>.",
      });
    });

    it("refuses a wrong key", async () => {
      await expect(
        authorize(receiveSepayWebhook, { authorization: "Apikey key-one" }, config),
      ).rejects.toMatchObject({ code: "UNAUTHORIZED", message: "The SePay API key is wrong." });
    });

    it("does not accept a gateway API key in x-api-key", async () => {
      await expect(authorize(receiveSepayWebhook, { "x-api-key": "key-one" }, config)).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    });

    it("answers 503 SEPAY_NOT_CONFIGURED with Retry-After when SEPAY_API_KEY is unset", async () => {
      await expect(
        authorize(receiveSepayWebhook, { authorization: "Apikey anything" }, testDeps()),
      ).rejects.toMatchObject({
        code: "SEPAY_NOT_CONFIGURED",
        status: 503,
        headers: { "retry-after": "60" },
        message: expect.stringContaining("SEPAY_API_KEY"),
      });
    });
  });
});

describe("authorize under the failure limiter", () => {
  const env = { N2STORE_API_KEYS: "key-one", SEPAY_API_KEY: "sepay-key" };

  it(`refuses a client with 429 after ${FAILURE_LIMIT} wrong keys, even the right key, until the window passes`, async () => {
    let now = Date.UTC(2026, 10, 25, 8);
    const deps = testDeps({ env, now: () => now, clientAddress: "203.0.113.9" });
    for (let i = 0; i < FAILURE_LIMIT; i++) {
      await expect(authorize(listCustomers, { "x-api-key": `guess-${i}` }, deps)).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    }
    const blocked = authorize(listCustomers, { "x-api-key": "key-one" }, deps);
    await expect(blocked).rejects.toMatchObject({
      code: "TOO_MANY_FAILURES",
      status: 429,
      headers: { "retry-after": "60" },
    });
    now += 30_000;
    await expect(authorize(listCustomers, { "x-api-key": "key-one" }, deps)).rejects.toMatchObject({
      headers: { "retry-after": "30" },
    });
    now += 30_001;
    await expect(authorize(listCustomers, { "x-api-key": "key-one" }, deps)).resolves.toBeUndefined();
  });

  it("counts wrong SePay keys too, but neither successes nor a missing key", async () => {
    const deps = testDeps({ env, clientAddress: "203.0.113.10" });
    for (let i = 0; i < 3 * FAILURE_LIMIT; i++) {
      await authorize(listCustomers, { "x-api-key": "key-one" }, deps);
      await expect(authorize(listCustomers, {}, deps)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    }
    for (let i = 0; i < FAILURE_LIMIT; i++) {
      await expect(
        authorize(receiveSepayWebhook, { authorization: "Apikey wrong" }, deps),
      ).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    }
    await expect(
      authorize(receiveSepayWebhook, { authorization: "Apikey sepay-key" }, deps),
    ).rejects.toMatchObject({ code: "TOO_MANY_FAILURES" });
  });

  it("keeps each address to its own count", async () => {
    const failures = new MemoryFailureLimiter({ now: () => 0 });
    const attacker = { ...testDeps({ env, clientAddress: "203.0.113.11" }), failures };
    const shop = { ...testDeps({ env, clientAddress: "198.51.100.4" }), failures };
    for (let i = 0; i < FAILURE_LIMIT + 5; i++) {
      await authorize(listCustomers, { "x-api-key": "wrong" }, attacker).catch(() => {});
    }
    expect(await failures.retryAfter(clientKey(attacker))).toBeGreaterThan(0);
    await expect(authorize(listCustomers, { "x-api-key": "key-one" }, shop)).resolves.toBeUndefined();
  });
});
