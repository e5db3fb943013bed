import type { OperationInput, RawBody } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import { type Env, loadConfig } from "../config.js";
import type { SharedDeps } from "../deps.js";
import { type ApiError, isApiError } from "../errors.js";
import { silentLogger } from "../ports/runtime.js";
import { UpstreamFailure } from "../ports/upstream.js";
import { bodyText, FakeUpstream, rawBody } from "../testing/fake-upstream.js";
import { TposAppVersion } from "../tpos/app-version.js";
import { TokenCache } from "../tpos/token-cache.js";
import {
  getFacebookAvatar,
  getPancakeAvatar,
  getProxiedImage,
  PLACEHOLDER_AVATAR,
  proxyHandlers,
  proxyHeaders,
} from "./media.js";

const UNTRUSTED = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
};

function testDeps(upstream: FakeUpstream, env: Env = {}): SharedDeps {
  const config = loadConfig(env);
  const clock = { now: () => Date.UTC(2026, 10, 25) };
  return {
    config,
    upstream,
    clock,
    log: silentLogger,
    requestId: "req-1",
    runtime: "edge",
    tokens: new TokenCache(clock),
    tposAppVersion: new TposAppVersion(config.tposAppVersion),
    idempotency: null,
    describeRuntime: async () => ({}),
  };
}

function caught(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    if (isApiError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error("did not throw");
}

async function thrown(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (isApiError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error("did not throw");
}

function imageInput(url: string): OperationInput<"getProxiedImage"> {
  return { path: {}, query: { url }, headers: {}, body: undefined, rawQuery: "", rawHeaders: {} };
}

function proxyInput<Op extends "proxyGet" | "proxyPost">(
  url: string,
  extra: { headers?: string; body?: RawBody | null; rawHeaders?: Record<string, string> } = {},
): OperationInput<Op> {
  return {
    path: {},
    query: { url, ...(extra.headers === undefined ? {} : { headers: extra.headers }) },
    headers: {},
    body: extra.body ?? null,
    rawQuery: "",
    rawHeaders: extra.rawHeaders ?? {},
  } as unknown as OperationInput<Op>;
}

describe("proxyHeaders", () => {
  it("reads nothing from an absent or empty value", () => {
    expect(proxyHeaders(undefined)).toEqual({});
    expect(proxyHeaders("")).toEqual({});
  });

  it("accepts allowed names in any case and lower-cases them", () => {
    expect(
      proxyHeaders(
        '{"Accept-Language":"vi","TPOSAPPVERSION":"6.5.14.1","If-None-Match":"W/\\"1\\"","Content-Type":"application/json"}',
      ),
    ).toEqual({
      "accept-language": "vi",
      tposappversion: "6.5.14.1",
      "if-none-match": 'W/"1"',
      "content-type": "application/json",
    });
  });

  it.each([
    "cookie",
    "Authorization",
    "host",
    "x-api-key",
    "x-forwarded-for",
    "proxy-authorization",
    "origin",
  ])("refuses the header %s with VALIDATION_FAILED on query.headers", (name) => {
    const error = caught(() => proxyHeaders(JSON.stringify({ [name]: "x" })));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details?.[0]?.path).toEqual(["query", "headers"]);
    expect(error.message).toContain(name);
  });

  it.each(["vi\r\nX-Injected: 1", "vi\nx", "vi\u0000"])("refuses the value %j", (value) => {
    const error = caught(() => proxyHeaders(JSON.stringify({ "accept-language": value })));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.message).toContain("single-line");
  });

  it.each(['{"accept":1}', '{"accept":null}', '{"accept":["a"]}'])(
    "refuses the non-string value in %s",
    (raw) => {
      expect(caught(() => proxyHeaders(raw)).code).toBe("VALIDATION_FAILED");
    },
  );

  it.each(["[]", "null", "1", '"accept"', "not json", "{"])(
    "refuses %j, which is not a JSON object",
    (raw) => {
      const error = caught(() => proxyHeaders(raw));
      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.message).toBe("query.headers: must be a JSON object of header names and values");
    },
  );
});

describe("proxyGet", () => {
  it("sends the allowed ?headers= on top of its own, never the caller's credentials", async () => {
    const upstream = new FakeUpstream().on("https://pancake.vn/api/x", { json: {} });
    const result = await proxyHandlers.proxyGet(
      proxyInput("https://pancake.vn/api/x", {
        headers: '{"accept-language":"vi"}',
        rawHeaders: { cookie: "a=1", authorization: "Bearer t" },
      }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.headers).toEqual({
      "user-agent": "Mozilla/5.0 (compatible; N2StoreGateway/1.0)",
      accept: "application/json, text/plain, */*",
      "accept-language": "vi",
    });
    expect(upstream.requests[0]?.guarded).toBe(true);
    expect(result.headers).toMatchObject(UNTRUSTED);
  });

  it("refuses a target outside PROXY_ALLOWED_HOSTS without a request", async () => {
    const upstream = new FakeUpstream();
    const error = await thrown(
      proxyHandlers.proxyGet(proxyInput("http://127.0.0.1:8080/"), testDeps(upstream)),
    );
    expect(error.code).toBe("TARGET_NOT_ALLOWED");
    expect(upstream.requests).toHaveLength(0);
  });

  it("uses PROXY_MAX_BYTES as the body limit", async () => {
    const upstream = new FakeUpstream().on("https://pancake.vn/x", { json: {} });
    await proxyHandlers.proxyGet(
      proxyInput("https://pancake.vn/x"),
      testDeps(upstream, { PROXY_MAX_BYTES: "1234" }),
    );
    expect(upstream.requests[0]?.maxBodyBytes).toBe(1234);
  });
});

describe("proxyPost", () => {
  it("streams the body with the caller's content type unless ?headers= names one", async () => {
    const upstream = new FakeUpstream().on("https://pancake.vn/x", { json: {} });
    const deps = testDeps(upstream);
    await proxyHandlers.proxyPost(
      proxyInput("https://pancake.vn/x", {
        body: rawBody("a=1"),
        rawHeaders: { "content-type": "text/plain" },
      }),
      deps,
    );
    await proxyHandlers.proxyPost(
      proxyInput("https://pancake.vn/x", {
        body: rawBody("{}"),
        headers: '{"content-type":"application/json"}',
        rawHeaders: { "content-type": "text/plain" },
      }),
      deps,
    );
    expect(
      upstream.requests.map((request) => [request.method, request.body, request.headers["content-type"]]),
    ).toEqual([
      ["POST", "a=1", "text/plain"],
      ["POST", "{}", "application/json"],
    ]);
  });
});

describe("getProxiedImage", () => {
  const IMAGE = "https://content.pancake.vn/2.1-24/avatars/abc.png";

  it("streams an image with its content type, a one-day cache and the untrusted-content headers", async () => {
    const upstream = new FakeUpstream().on(IMAGE, {
      headers: { "content-type": "image/png", "content-length": "3", "set-cookie": "a=1", etag: '"e"' },
      body: "PNG",
    });
    const result = await getProxiedImage(imageInput(IMAGE), testDeps(upstream));
    expect(result.status).toBe(200);
    expect(result).toMatchObject({ contentType: "image/png" });
    expect(result.headers).toEqual({
      "content-length": "3",
      etag: '"e"',
      "cache-control": "public, max-age=86400",
      ...UNTRUSTED,
    });
    expect(bodyText(result.raw)).toBe("PNG");
    expect(upstream.requests[0]?.maxBodyBytes).toBe(50 * 1024 * 1024);
  });

  it("refuses a 200 that is not an image with UPSTREAM_BAD_RESPONSE and discards its body", async () => {
    const upstream = new FakeUpstream().on(IMAGE, {
      headers: { "content-type": "text/html" },
      body: "<script>",
    });
    const error = await thrown(getProxiedImage(imageInput(IMAGE), testDeps(upstream)));
    expect(error.code).toBe("UPSTREAM_BAD_RESPONSE");
    expect(upstream.dumped).toBe(1);
  });

  it("refuses a 200 without a content type", async () => {
    const upstream = new FakeUpstream().on(IMAGE, { body: "???" });
    expect((await thrown(getProxiedImage(imageInput(IMAGE), testDeps(upstream)))).code).toBe(
      "UPSTREAM_BAD_RESPONSE",
    );
  });

  it("passes a non-2xx answer through with its status, sandboxed", async () => {
    const upstream = new FakeUpstream().on(IMAGE, {
      status: 404,
      headers: { "content-type": "text/html" },
      body: "Not Found",
    });
    const result = await getProxiedImage(imageInput(IMAGE), testDeps(upstream));
    expect(result.status).toBe(404);
    expect(result.headers).toEqual({ "content-type": "text/html", ...UNTRUSTED });
    expect(bodyText(result.raw)).toBe("Not Found");
  });

  it("follows a redirect to a CDN image", async () => {
    const upstream = new FakeUpstream()
      .on(IMAGE, { status: 302, headers: { location: "https://scontent.xx.fbcdn.net/p.jpg" } })
      .on("https://scontent.xx.fbcdn.net/p.jpg", { headers: { "content-type": "image/jpeg" }, body: "JPG" });
    const result = await getProxiedImage(imageInput(IMAGE), testDeps(upstream));
    expect(bodyText(result.raw)).toBe("JPG");
  });

  it.each(["http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/"])(
    "refuses a redirect to %s without a request to it",
    async (location) => {
      const upstream = new FakeUpstream().on(IMAGE, { status: 302, headers: { location } });
      const error = await thrown(getProxiedImage(imageInput(IMAGE), testDeps(upstream)));
      expect(error.code).toBe("TARGET_NOT_ALLOWED");
      expect(upstream.requests.map((request) => request.url)).toEqual([IMAGE]);
    },
  );

  it("refuses a URL with another scheme", async () => {
    const upstream = new FakeUpstream();
    expect((await thrown(getProxiedImage(imageInput("file:///etc/passwd"), testDeps(upstream)))).code).toBe(
      "INVALID_TARGET_URL",
    );
  });
});

describe("getFacebookAvatar", () => {
  const ID = "9484319011642026";
  const PAGE = "270136663390370";
  const PANCAKE = `https://pancake.vn/api/v1/pages/${PAGE}/avatar/${ID}?access_token=pancake-jwt`;
  const GRAPH = `https://graph.facebook.com/v26.0/${ID}/picture?width=80&height=80&type=normal`;

  function avatarInput(query: {
    id: string;
    page?: string;
    token?: string;
  }): OperationInput<"getFacebookAvatar"> {
    return { path: {}, query, headers: {}, body: undefined, rawQuery: "", rawHeaders: {} };
  }

  it("uses Pancake's avatar first when a page is given, following its redirect", async () => {
    const upstream = new FakeUpstream()
      .on(PANCAKE, { status: 302, headers: { location: "https://content.pancake.vn/avatars/x.jpg" } })
      .on("https://content.pancake.vn/avatars/x.jpg", {
        headers: { "content-type": "image/jpeg" },
        body: "JPG",
      });
    const result = await getFacebookAvatar(
      avatarInput({ id: ID, page: PAGE, token: "pancake-jwt" }),
      testDeps(upstream),
    );
    expect(result).toMatchObject({ status: 200, contentType: "image/jpeg" });
    expect(result.headers?.["x-avatar-source"]).toBe("pancake");
    expect(bodyText(result.raw)).toBe("JPG");
    expect(upstream.requests.some((request) => request.url.startsWith("https://graph.facebook.com/"))).toBe(
      false,
    );
  });

  it("falls back to the Graph picture, without the Pancake token, when Pancake fails", async () => {
    const upstream = new FakeUpstream()
      .on(PANCAKE, new UpstreamFailure("unreachable", "ECONNREFUSED"))
      .on(GRAPH, { status: 302, headers: { location: "https://scontent.xx.fbcdn.net/p.jpg" } })
      .on("https://scontent.xx.fbcdn.net/p.jpg", { headers: { "content-type": "image/jpeg" }, body: "FB" });
    const result = await getFacebookAvatar(
      avatarInput({ id: ID, page: PAGE, token: "pancake-jwt" }),
      testDeps(upstream),
    );
    expect(result.headers?.["x-avatar-source"]).toBe("graph");
    expect(bodyText(result.raw)).toBe("FB");
    expect(upstream.requests.filter((request) => request.url.includes("pancake-jwt"))).toHaveLength(1);
    expect(upstream.requests[1]?.url).toBe(GRAPH);
  });

  it("asks only Graph when no page is given", async () => {
    const upstream = new FakeUpstream().on(GRAPH, { headers: { "content-type": "image/png" }, body: "P" });
    const result = await getFacebookAvatar(avatarInput({ id: ID }), testDeps(upstream));
    expect(result.headers?.["x-avatar-source"]).toBe("graph");
    expect(upstream.requests.map((request) => request.url)).toEqual([GRAPH]);
    expect(upstream.requests[0]?.timeoutMs).toBe(5000);
  });

  it("falls back to the next source when one answers something that is not an image", async () => {
    const upstream = new FakeUpstream()
      .on(PANCAKE, { headers: { "content-type": "application/json" }, json: { error: "nope" } })
      .on(GRAPH, { headers: { "content-type": "image/png" }, body: "P" });
    const result = await getFacebookAvatar(
      avatarInput({ id: ID, page: PAGE, token: "pancake-jwt" }),
      testDeps(upstream),
    );
    expect(result.headers?.["x-avatar-source"]).toBe("graph");
    expect(upstream.dumped).toBe(1);
  });

  it("answers the SVG placeholder when every source fails", async () => {
    const upstream = new FakeUpstream()
      .on(PANCAKE, { status: 404, body: "missing" })
      .on(GRAPH, { status: 302, headers: { location: "http://169.254.169.254/" } });
    const result = await getFacebookAvatar(
      avatarInput({ id: ID, page: PAGE, token: "pancake-jwt" }),
      testDeps(upstream),
    );
    expect(result).toEqual({
      status: 200,
      raw: PLACEHOLDER_AVATAR,
      contentType: "image/svg+xml",
      headers: { "cache-control": "public, max-age=3600", "x-avatar-source": "placeholder" },
    });
    expect(upstream.requests.map((request) => request.url)).toEqual([PANCAKE, GRAPH]);
  });

  it("answers the placeholder when Graph times out", async () => {
    const upstream = new FakeUpstream().on(GRAPH, new UpstreamFailure("timeout", "slow"));
    const result = await getFacebookAvatar(avatarInput({ id: ID }), testDeps(upstream));
    expect(result.headers?.["x-avatar-source"]).toBe("placeholder");
  });
});

describe("getPancakeAvatar", () => {
  const URL_ = "https://content.pancake.vn/2.1-24/avatars/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";

  function hashInput(hash: string): OperationInput<"getPancakeAvatar"> {
    return { path: {}, query: { hash }, headers: {}, body: undefined, rawQuery: "", rawHeaders: {} };
  }

  it("streams the content avatar for the hash", async () => {
    const upstream = new FakeUpstream().on(URL_, { headers: { "content-type": "image/jpeg" }, body: "J" });
    const result = await getPancakeAvatar(
      hashInput("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
      testDeps(upstream),
    );
    expect(result.headers?.["x-avatar-source"]).toBe("pancake-content");
    expect(bodyText(result.raw)).toBe("J");
  });

  it("answers the placeholder when the avatar is missing", async () => {
    const upstream = new FakeUpstream().on(URL_, { status: 404 });
    const result = await getPancakeAvatar(
      hashInput("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
      testDeps(upstream),
    );
    expect(result).toMatchObject({ contentType: "image/svg+xml", raw: PLACEHOLDER_AVATAR });
  });

  it("uses PANCAKE_CONTENT_BASE_URL", async () => {
    const upstream = new FakeUpstream().on("http://127.0.0.1:4600/2.1-24/avatars/h", {
      headers: { "content-type": "image/png" },
      body: "P",
    });
    const result = await getPancakeAvatar(
      hashInput("h"),
      testDeps(upstream, { PANCAKE_CONTENT_BASE_URL: "http://127.0.0.1:4600" }),
    );
    expect(result.headers?.["x-avatar-source"]).toBe("pancake-content");
    expect(upstream.requests[0]?.guarded).toBe(false);
  });
});

describe("PLACEHOLDER_AVATAR", () => {
  it("is an SVG document", () => {
    expect(PLACEHOLDER_AVATAR.startsWith("<svg")).toBe(true);
    expect(PLACEHOLDER_AVATAR.endsWith("</svg>")).toBe(true);
  });
});
