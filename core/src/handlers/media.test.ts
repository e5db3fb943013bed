import type { OperationInput, RawBody } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import type { Env } from "../config.js";
import type { SharedDeps } from "../deps.js";
import { ImageResizeFailure, type ImageResizer, type ResizeOptions } from "../ports/image-resizer.js";
import { UpstreamFailure } from "../ports/upstream.js";
import { testDeps as sharedTestDeps } from "../testing/deps.js";
import { caught, thrown } from "../testing/errors.js";
import { bodyText, FakeUpstream, rawBody } from "../testing/fake-upstream.js";
import {
  avatarHash,
  avatarId,
  getFacebookAvatar,
  getPancakeAvatar,
  PLACEHOLDER_AVATAR,
  pancakeToken,
} from "./avatar.js";
import {
  getProxiedImage,
  MAX_IMAGE_WIDTH,
  RESIZE_FORWARDED_HEADER,
  rangeRequestHeaders,
  resizeOptions,
} from "./media.js";
import { proxy, proxyHeaderPolicy, proxyHeaders } from "./proxy.js";

const UNTRUSTED = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
};

function testDeps(
  upstream: FakeUpstream,
  env: Env = {},
  extra: Partial<Pick<SharedDeps, "imageResizer">> = {},
): SharedDeps {
  return sharedTestDeps({ upstream, env, now: Date.UTC(2026, 10, 25), extra });
}

function imageInput(
  url: string,
  extra: {
    w?: number;
    q?: number;
    headers?: { range?: string; "if-range"?: string };
    rawHeaders?: Record<string, string>;
  } = {},
): OperationInput<"getProxiedImage"> {
  const { w, q } = extra;
  return {
    path: {},
    query: { url, ...(w === undefined ? {} : { w }), ...(q === undefined ? {} : { q }) },
    headers: extra.headers ?? {},
    body: undefined,
    rawQuery: "",
    rawHeaders: extra.rawHeaders ?? {},
  };
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

  // orders-report/js/core/api-handler.js:157-172, the address look-up on tienich.vnhub.com, verbatim.
  const PAGE_HEADERS = {
    accept: "application/json, text/plain, */*",
    "accept-language": "en-US,en;q=0.9,vi;q=0.8",
    "content-type": "application/json",
    Host: "tienich.vnhub.com",
    Origin: "https://tienich.vnhub.com",
    Referer: "https://tienich.vnhub.com/",
    "sec-ch-ua": '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"macOS"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
    "x-kas": "89232422",
  };

  it("sends every header the address look-up page sets except Host", () => {
    const { Host: _host, ...rest } = PAGE_HEADERS;
    const expected = Object.fromEntries(
      Object.entries(rest).map(([name, value]) => [name.toLowerCase(), value]),
    );
    expect(proxyHeaders(JSON.stringify(PAGE_HEADERS))).toEqual(expected);
  });

  it.each([
    "Host",
    "Content-Length",
    "Expect",
    "Connection",
    "Keep-Alive",
    "TE",
    "Transfer-Encoding",
    "Upgrade",
    "Trailer",
    "Proxy-Connection",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "Forwarded",
    "Via",
    "X-Real-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
  ])("drops %s without an error and sends the rest", (name) => {
    expect(proxyHeaderPolicy(name.toLowerCase())).toBe("drop");
    expect(proxyHeaders(JSON.stringify({ [name]: "1.2.3.4", "x-kas": "1" }))).toEqual({ "x-kas": "1" });
  });

  it.each([
    "origin",
    "referer",
    "user-agent",
    "accept",
    "accept-encoding",
    "content-language",
    "cache-control",
    "if-match",
    "sec-fetch-site",
    "x-api-key",
    "feature-version",
  ])("sends %s", (name) => {
    expect(proxyHeaderPolicy(name)).toBe("send");
  });

  it.each([
    ["cookie", "credentials"],
    ["Authorization", "credentials"],
    ["Proxy-Authorization", "credentials"],
    ["dnt", "cannot be set"],
    ["x-", "cannot be set"],
    ["sec-", "cannot be set"],
    ["accept-", "cannot be set"],
  ])("refuses the header %s with VALIDATION_FAILED on query.headers", (name, words) => {
    const error = caught(() => proxyHeaders(JSON.stringify({ [name]: "x" })));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details?.[0]?.path).toEqual(["query", "headers"]);
    expect(error.message).toContain(name);
    expect(error.message).toContain(words);
  });

  it.each(["a b", "x-kas:", "", "é"])("refuses the name %j, which is not an HTTP token", (name) => {
    const error = caught(() => proxyHeaders(JSON.stringify({ [name]: "x" })));
    expect(error.message).toContain("is not a header name");
  });

  it.each(["vi\r\nX-Injected: 1", "vi\nx", "vi\u0000", "Tiếng Việt"])("refuses the value %j", (value) => {
    const error = caught(() => proxyHeaders(JSON.stringify({ "accept-language": value })));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.message).toContain("one line of printable ASCII");
  });

  it("refuses a bad value even of a header it would drop", () => {
    expect(caught(() => proxyHeaders('{"host":"a\\r\\nb"}')).code).toBe("VALIDATION_FAILED");
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
    const result = await proxy.get(
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

  it("sends the page's Origin, Referer, sec-* and x-kas, never its Host", async () => {
    const upstream = new FakeUpstream().on("https://tienich.vnhub.com/api/wards", { json: { data: [] } });
    await proxy.post(
      proxyInput("https://tienich.vnhub.com/api/wards", {
        headers: JSON.stringify({
          Host: "evil.example",
          Origin: "https://tienich.vnhub.com",
          Referer: "https://tienich.vnhub.com/",
          "sec-fetch-mode": "cors",
          "x-kas": "89232422",
          "X-Forwarded-For": "10.0.0.1",
        }),
        body: rawBody('{"address":"1 Lê Lợi"}'),
        rawHeaders: { "content-type": "application/json" },
      }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.headers).toEqual({
      "user-agent": "Mozilla/5.0 (compatible; N2StoreGateway/1.0)",
      accept: "application/json, text/plain, */*",
      origin: "https://tienich.vnhub.com",
      referer: "https://tienich.vnhub.com/",
      "sec-fetch-mode": "cors",
      "x-kas": "89232422",
      "content-type": "application/json",
    });
  });

  it.each([
    "https://34tinhthanh.com/api/provinces",
    "https://img.vietqr.io/image/x.png",
    "https://n2.b-cdn.net/a.jpg",
  ])("reaches %s with the default PROXY_ALLOWED_HOSTS (the pages' look-ups)", async (url) => {
    const upstream = new FakeUpstream().on(url, { json: {} });
    const result = await proxy.get(proxyInput(url), testDeps(upstream));
    expect(result.status).toBe(200);
  });

  it("never reaches the Node server of NODE_SERVER_URL (only image-proxy's forward may)", async () => {
    const upstream = new FakeUpstream();
    const error = await thrown(
      proxy.get(
        proxyInput("https://n2store-node.example/api/customers"),
        testDeps(upstream, { NODE_SERVER_URL: "https://n2store-node.example" }),
      ),
    );
    expect(error.code).toBe("TARGET_NOT_ALLOWED");
    expect(upstream.requests).toHaveLength(0);
  });

  it("refuses a target outside PROXY_ALLOWED_HOSTS without a request", async () => {
    const upstream = new FakeUpstream();
    const error = await thrown(proxy.get(proxyInput("http://127.0.0.1:8080/"), testDeps(upstream)));
    expect(error.code).toBe("TARGET_NOT_ALLOWED");
    expect(upstream.requests).toHaveLength(0);
  });

  it("uses PROXY_MAX_BYTES as the body limit", async () => {
    const upstream = new FakeUpstream().on("https://pancake.vn/x", { json: {} });
    await proxy.get(proxyInput("https://pancake.vn/x"), testDeps(upstream, { PROXY_MAX_BYTES: "1234" }));
    expect(upstream.requests[0]?.maxBodyBytes).toBe(1234);
  });
});

describe("proxyPost", () => {
  it("streams the body with the caller's content type unless ?headers= names one", async () => {
    const upstream = new FakeUpstream().on("https://pancake.vn/x", { json: {} });
    const deps = testDeps(upstream);
    await proxy.post(
      proxyInput("https://pancake.vn/x", {
        body: rawBody("a=1"),
        rawHeaders: { "content-type": "text/plain" },
      }),
      deps,
    );
    await proxy.post(
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
  const VIDEO = "https://video.xx.fbcdn.net/v/clip.mp4";

  it("passes a video with its type, and sends a byte range on, passing back 206 and its range headers", async () => {
    const upstream = new FakeUpstream().on(VIDEO, {
      status: 206,
      headers: {
        "content-type": "video/mp4",
        "content-range": "bytes 0-1023/1048576",
        "accept-ranges": "bytes",
        "content-length": "1024",
      },
      body: new Uint8Array(1024),
    });
    const result = await getProxiedImage(
      imageInput(VIDEO, { headers: { range: "bytes=0-1023", "if-range": '"v1"' } }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.headers).toMatchObject({ range: "bytes=0-1023", "if-range": '"v1"' });
    expect(result).toMatchObject({ status: 206, contentType: "video/mp4" });
    expect(result.headers).toMatchObject({
      "content-range": "bytes 0-1023/1048576",
      "accept-ranges": "bytes",
      "content-length": "1024",
      "cache-control": "public, max-age=86400",
      ...UNTRUSTED,
    });
    expect(result.headers?.["x-image-resize"]).toBeUndefined();
  });

  it("passes a 416 back with its Content-Range, so the player learns the size", async () => {
    const upstream = new FakeUpstream().on(VIDEO, {
      status: 416,
      headers: { "content-range": "bytes */1048576" },
    });
    const result = await getProxiedImage(
      imageInput(VIDEO, { headers: { range: "bytes=2000000-" } }),
      testDeps(upstream),
    );
    expect(result.status).toBe(416);
    expect(result.headers?.["content-range"]).toBe("bytes */1048576");
  });

  it("does not send a Range that is not a byte range", async () => {
    const upstream = new FakeUpstream().on(VIDEO, { headers: { "content-type": "video/mp4" }, body: "V" });
    const result = await getProxiedImage(
      imageInput(VIDEO, { headers: { range: "lines=1-2", "if-range": '"v1"' } }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.headers.range).toBeUndefined();
    expect(upstream.requests[0]?.headers["if-range"]).toBeUndefined();
    expect(result.status).toBe(200);
  });

  it.each(["application/json", "text/html; charset=utf-8", "audio/mpeg", "application/octet-stream"])(
    "refuses a 200 of %s",
    async (type) => {
      const upstream = new FakeUpstream().on(IMAGE, { headers: { "content-type": type }, body: "x" });
      const error = await thrown(getProxiedImage(imageInput(IMAGE), testDeps(upstream)));
      expect(error.code).toBe("UPSTREAM_BAD_RESPONSE");
      expect(error.message).toBe("The target did not answer with an image or a video.");
    },
  );
});

/** A resizer that records its calls and answers from a script. */
class FakeResizer implements ImageResizer {
  readonly calls: { image: string; mediaType: string; options: ResizeOptions }[] = [];
  constructor(
    private readonly answer: (image: string) => Promise<string> = async (image) => `small(${image})`,
    private readonly types: readonly string[] = ["image/jpeg", "image/png", "image/webp"],
  ) {}

  resizes(mediaType: string): boolean {
    return this.types.includes(mediaType);
  }

  async resize(image: RawBody, mediaType: string, options: ResizeOptions) {
    const text = bodyText(image);
    this.calls.push({ image: text, mediaType, options });
    return { body: rawBody(await this.answer(text)), contentType: mediaType };
  }
}

describe("getProxiedImage with w and q", () => {
  const PHOTO = "https://content.pancake.vn/photos/receipt.jpg";
  const NODE = "https://n2store-node.example";
  const FORWARD = `${NODE}/api/image-proxy?url=${encodeURIComponent(PHOTO)}&w=900&q=70`;

  it("re-encodes through the runtime's resizer, whole (no Range sent), with its own headers", async () => {
    const upstream = new FakeUpstream().on(PHOTO, {
      headers: { "content-type": "image/jpeg; charset=binary", "content-length": "5", etag: '"e"' },
      body: "PHOTO",
    });
    const resizer = new FakeResizer();
    const result = await getProxiedImage(
      imageInput(PHOTO, { w: 900, q: 70, headers: { range: "bytes=0-1" } }),
      testDeps(upstream, {}, { imageResizer: resizer }),
    );
    expect(resizer.calls).toEqual([
      { image: "PHOTO", mediaType: "image/jpeg", options: { width: 900, quality: 70 } },
    ]);
    expect(upstream.requests[0]?.headers.range).toBeUndefined();
    expect(upstream.requests[0]?.headers.accept).not.toContain("avif");
    expect(result).toMatchObject({ status: 200, contentType: "image/jpeg" });
    expect(bodyText(result.raw)).toBe("small(PHOTO)");
    // The original's length and validators do not describe the re-encoded bytes.
    expect(result.headers).toEqual({
      "cache-control": "public, max-age=86400",
      "x-image-resize": "resized",
      ...UNTRUSTED,
    });
  });

  it("passes a type the resizer does not take (an animated GIF, a video) unchanged, marked original", async () => {
    const upstream = new FakeUpstream().on(PHOTO, {
      headers: { "content-type": "image/gif" },
      body: "GIF89a",
    });
    const resizer = new FakeResizer();
    const result = await getProxiedImage(
      imageInput(PHOTO, { w: 100 }),
      testDeps(upstream, {}, { imageResizer: resizer }),
    );
    expect(resizer.calls).toHaveLength(0);
    expect(result).toMatchObject({ status: 200, contentType: "image/gif" });
    expect(result.headers?.["x-image-resize"]).toBe("original");
    expect(bodyText(result.raw)).toBe("GIF89a");
  });

  it("refuses HTML even when asked to resize, without calling the resizer", async () => {
    const upstream = new FakeUpstream().on(PHOTO, { headers: { "content-type": "text/html" }, body: "<p>" });
    const resizer = new FakeResizer();
    const error = await thrown(
      getProxiedImage(imageInput(PHOTO, { q: 50 }), testDeps(upstream, {}, { imageResizer: resizer })),
    );
    expect(error.code).toBe("UPSTREAM_BAD_RESPONSE");
    expect(resizer.calls).toHaveLength(0);
  });

  it.each([
    [new ImageResizeFailure("undecodable", "bad JPEG"), 502, "UPSTREAM_BAD_RESPONSE"],
    [new ImageResizeFailure("too-many-pixels", "50000x50000"), 502, "UPSTREAM_RESPONSE_TOO_LARGE"],
    [new UpstreamFailure("too-large", "over"), 502, "UPSTREAM_RESPONSE_TOO_LARGE"],
    [new UpstreamFailure("timeout", "slow"), 504, "UPSTREAM_TIMEOUT"],
    [new UpstreamFailure("reset", "cut"), 502, "UPSTREAM_UNREACHABLE"],
  ])("maps the resizer's %s to %i %s", async (failure, status, code) => {
    const upstream = new FakeUpstream().on(PHOTO, { headers: { "content-type": "image/png" }, body: "PNG" });
    const resizer = new FakeResizer(async () => {
      throw failure;
    });
    const error = await thrown(
      getProxiedImage(imageInput(PHOTO, { w: 10 }), testDeps(upstream, {}, { imageResizer: resizer })),
    );
    expect({ status: error.status, code: error.code }).toEqual({ status, code });
  });

  it("passes the target's own 404 back without calling the resizer", async () => {
    const upstream = new FakeUpstream().on(PHOTO, { status: 404, body: "Not Found" });
    const resizer = new FakeResizer();
    const result = await getProxiedImage(
      imageInput(PHOTO, { w: 10 }),
      testDeps(upstream, {}, { imageResizer: resizer }),
    );
    expect(result.status).toBe(404);
    expect(resizer.calls).toHaveLength(0);
  });

  it("serves the original, marked so, on a runtime without a resizer or NODE_SERVER_URL", async () => {
    const upstream = new FakeUpstream().on(PHOTO, {
      headers: { "content-type": "image/jpeg" },
      body: "PHOTO",
    });
    const result = await getProxiedImage(imageInput(PHOTO, { w: 900, q: 70 }), testDeps(upstream));
    expect(upstream.requests.map((request) => request.url)).toEqual([PHOTO]);
    expect(result).toMatchObject({ status: 200, contentType: "image/jpeg" });
    expect(result.headers?.["x-image-resize"]).toBe("original");
    expect(bodyText(result.raw)).toBe("PHOTO");
  });

  it("asks NODE_SERVER_URL for the resized image, marked forwarded, and does not fetch the original", async () => {
    const upstream = new FakeUpstream().on(FORWARD, {
      headers: { "content-type": "image/jpeg", "x-image-resize": "resized", "content-length": "5" },
      body: "SMALL",
    });
    const result = await getProxiedImage(
      imageInput(PHOTO, { w: 900, q: 70 }),
      testDeps(upstream, { NODE_SERVER_URL: NODE }),
    );
    expect(
      upstream.requests.map((request) => [request.url, request.headers[RESIZE_FORWARDED_HEADER]]),
    ).toEqual([[FORWARD, "1"]]);
    expect(upstream.requests[0]?.guarded).toBe(true);
    expect(result).toMatchObject({ status: 200, contentType: "image/jpeg" });
    expect(result.headers?.["x-image-resize"]).toBe("forwarded");
    expect(bodyText(result.raw)).toBe("SMALL");
  });

  it("keeps the Node server's 'original' when it passed the image unchanged", async () => {
    const upstream = new FakeUpstream().on(FORWARD, {
      headers: { "content-type": "image/gif", "x-image-resize": "original" },
      body: "GIF",
    });
    const result = await getProxiedImage(
      imageInput(PHOTO, { w: 900, q: 70 }),
      testDeps(upstream, { NODE_SERVER_URL: NODE }),
    );
    expect(result.headers?.["x-image-resize"]).toBe("original");
  });

  it.each([
    ["is unreachable", new UpstreamFailure("unreachable", "ECONNREFUSED")],
    ["times out", new UpstreamFailure("timeout", "slow")],
    ["answers an error", { status: 502, json: { code: "UPSTREAM_BAD_RESPONSE" } }],
    ["answers JSON with 200", { json: { ok: true } }],
    ["redirects", { status: 302, headers: { location: "https://content.pancake.vn/x.jpg" } }],
  ])("serves the original when the Node server %s", async (_what, reply) => {
    const upstream = new FakeUpstream()
      .on(FORWARD, reply)
      .on(PHOTO, { headers: { "content-type": "image/jpeg" }, body: "PHOTO" });
    const result = await getProxiedImage(
      imageInput(PHOTO, { w: 900, q: 70 }),
      testDeps(upstream, { NODE_SERVER_URL: NODE }),
    );
    expect(upstream.requests.map((request) => request.url)).toEqual([FORWARD, PHOTO]);
    expect(result).toMatchObject({ status: 200, contentType: "image/jpeg" });
    expect(result.headers?.["x-image-resize"]).toBe("original");
  });

  it("refuses a target it may not reach itself before asking the Node server", async () => {
    const upstream = new FakeUpstream();
    const error = await thrown(
      getProxiedImage(
        imageInput("http://169.254.169.254/latest/meta-data/", { w: 10 }),
        testDeps(upstream, { NODE_SERVER_URL: NODE }),
      ),
    );
    expect(error.code).toBe("TARGET_NOT_ALLOWED");
    expect(upstream.requests).toHaveLength(0);
  });

  it("never forwards a request that is itself a forward (a Worker pointed at itself cannot loop)", async () => {
    const upstream = new FakeUpstream().on(PHOTO, {
      headers: { "content-type": "image/jpeg" },
      body: "PHOTO",
    });
    await getProxiedImage(
      imageInput(PHOTO, { w: 900, rawHeaders: { [RESIZE_FORWARDED_HEADER]: "1" } }),
      testDeps(upstream, { NODE_SERVER_URL: NODE }),
    );
    expect(upstream.requests.map((request) => request.url)).toEqual([PHOTO]);
  });

  it("uses the runtime's own resizer rather than NODE_SERVER_URL when it has one", async () => {
    const upstream = new FakeUpstream().on(PHOTO, { headers: { "content-type": "image/png" }, body: "PNG" });
    const resizer = new FakeResizer();
    await getProxiedImage(
      imageInput(PHOTO, { w: 900 }),
      testDeps(upstream, { NODE_SERVER_URL: NODE }, { imageResizer: resizer }),
    );
    expect(upstream.requests.map((request) => request.url)).toEqual([PHOTO]);
    expect(resizer.calls).toHaveLength(1);
  });
});

describe("resizeOptions", () => {
  it("asks nothing without w and q", () => {
    expect(resizeOptions({})).toBeNull();
  });

  it("reads w and q, each optional", () => {
    expect(resizeOptions({ w: 900, q: 70 })).toEqual({ width: 900, quality: 70 });
    expect(resizeOptions({ w: MAX_IMAGE_WIDTH })).toEqual({ width: 4000, quality: null });
    expect(resizeOptions({ q: 1 })).toEqual({ width: null, quality: 1 });
  });

  it.each([
    [{ w: 0 }, "w"],
    [{ w: 4001 }, "w"],
    [{ w: 1.5 }, "w"],
    [{ w: Number.NaN }, "w"],
    [{ w: Number.POSITIVE_INFINITY }, "w"],
    [{ q: 0 }, "q"],
    [{ q: 101 }, "q"],
    [{ w: 10, q: -1 }, "q"],
  ])("refuses %j with VALIDATION_FAILED naming %s", (query, name) => {
    const error = caught(() => resizeOptions(query));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details?.[0]?.path).toEqual(["query", name]);
  });
});

describe("rangeRequestHeaders", () => {
  it.each(["bytes=0-1023", "bytes=1048576-", "bytes=-500", "bytes=0-0, 5-9", "BYTES=1-2"])(
    "sends the byte range %s",
    (range) => {
      expect(rangeRequestHeaders({ range })).toEqual({ range });
    },
  );

  it.each([
    "bytes=",
    "bytes=-",
    "bytes=a-b",
    "items=0-1",
    "bytes=1-2;x",
    "bytes 0-1",
    `bytes=${"1".repeat(1100)}-`,
  ])("does not send %j", (range) => {
    expect(rangeRequestHeaders({ range, "if-range": '"e"' })).toEqual({});
  });

  it("sends If-Range only with a range, and only when it is one clean line", () => {
    expect(rangeRequestHeaders({ "if-range": '"e"' })).toEqual({});
    expect(rangeRequestHeaders({ range: "bytes=0-", "if-range": '"e"' })).toEqual({
      range: "bytes=0-",
      "if-range": '"e"',
    });
    expect(rangeRequestHeaders({ range: "bytes=0-", "if-range": "é" })).toEqual({ range: "bytes=0-" });
  });
});

describe("getFacebookAvatar", () => {
  const ID = "9484319011642026";
  const PAGE = "270136663390370";
  const PANCAKE = `https://pancake.vn/api/v1/pages/${PAGE}/avatar/${ID}?access_token=pancake-jwt`;
  const GRAPH = `https://graph.facebook.com/v26.0/${ID}/picture?width=80&height=80&type=normal`;

  function avatarInput(query: {
    id?: string | string[];
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

  it.each([
    [{}],
    [{ id: "" }],
    [{ id: "undefined", page: PAGE }],
    [{ id: "null" }],
    [{ id: "../../admin", page: PAGE }],
    [{ id: "1.5" }],
    [{ id: "12 34" }],
    [{ id: "a/b", page: PAGE }],
    [{ id: "%2e%2e" }],
    [{ id: "1".repeat(65) }],
  ])("answers the placeholder for %j without reaching any upstream", async (query) => {
    const upstream = new FakeUpstream();
    const result = await getFacebookAvatar(avatarInput(query), testDeps(upstream));
    expect(result).toMatchObject({ status: 200, contentType: "image/svg+xml", raw: PLACEHOLDER_AVATAR });
    expect(upstream.requests).toHaveLength(0);
  });

  it("asks only Graph when page is empty or not usable", async () => {
    for (const page of ["", "undefined", "../x"]) {
      const upstream = new FakeUpstream().on(GRAPH, { headers: { "content-type": "image/png" }, body: "P" });
      await getFacebookAvatar(avatarInput({ id: ID, page }), testDeps(upstream));
      expect(
        upstream.requests.map((request) => request.url),
        page,
      ).toEqual([GRAPH]);
    }
  });

  it("asks only Pancake for an id that is not a number (Graph ids are)", async () => {
    const zalo = "pzl_7f3a9c";
    const url = `https://pancake.vn/api/v1/pages/pzl_84912345678/avatar/${zalo}`;
    const upstream = new FakeUpstream().on(url, { headers: { "content-type": "image/jpeg" }, body: "Z" });
    const result = await getFacebookAvatar(
      avatarInput({ id: zalo, page: "pzl_84912345678" }),
      testDeps(upstream),
    );
    expect(result.headers?.["x-avatar-source"]).toBe("pancake");
    expect(upstream.requests.map((request) => request.url)).toEqual([url]);
  });

  it("answers the placeholder at once for a non-numeric id without a page", async () => {
    const upstream = new FakeUpstream();
    const result = await getFacebookAvatar(avatarInput({ id: "pzl_7f3a9c", page: "" }), testDeps(upstream));
    expect(result.headers?.["x-avatar-source"]).toBe("placeholder");
    expect(upstream.requests).toHaveLength(0);
  });

  it("asks Pancake without a token it cannot use", async () => {
    const upstream = new FakeUpstream().on(`https://pancake.vn/api/v1/pages/${PAGE}/avatar/${ID}`, {
      headers: { "content-type": "image/jpeg" },
      body: "J",
    });
    await getFacebookAvatar(avatarInput({ id: ID, page: PAGE, token: "a b&c=d" }), testDeps(upstream));
    expect(upstream.requests[0]?.url).toBe(`https://pancake.vn/api/v1/pages/${PAGE}/avatar/${ID}`);
  });

  it("uses the first value of a repeated id", async () => {
    const upstream = new FakeUpstream().on(GRAPH, { headers: { "content-type": "image/png" }, body: "P" });
    await getFacebookAvatar(avatarInput({ id: [ID, "999"] }), testDeps(upstream));
    expect(upstream.requests.map((request) => request.url)).toEqual([GRAPH]);
  });
});

describe("getPancakeAvatar", () => {
  const URL_ = "https://content.pancake.vn/2.1-24/avatars/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";

  function hashInput(hash: string | undefined): OperationInput<"getPancakeAvatar"> {
    return {
      path: {},
      query: hash === undefined ? {} : { hash },
      headers: {},
      body: undefined,
      rawQuery: "",
      rawHeaders: {},
    };
  }

  it.each([undefined, "", "../../etc/passwd", "a.b", "a%2Fb", "a".repeat(129)])(
    "answers the placeholder for the hash %j without reaching any upstream",
    async (hash) => {
      const upstream = new FakeUpstream();
      const result = await getPancakeAvatar(hashInput(hash), testDeps(upstream));
      expect(result).toMatchObject({ status: 200, contentType: "image/svg+xml", raw: PLACEHOLDER_AVATAR });
      expect(upstream.requests).toHaveLength(0);
    },
  );

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

describe("avatar parameters", () => {
  it.each([
    ["9484319011642026", "9484319011642026"],
    [" 123 ", "123"],
    ["pzl_84912345678", "pzl_84912345678"],
    ["igo-17841400000000000", "igo-17841400000000000"],
    [["1", "2"], "1"],
    ["", null],
    ["undefined", null],
    ["NaN", null],
    ["a.b", null],
    ["a/b", null],
    ["1".repeat(65), null],
    [undefined, null],
    [[], null],
  ])("avatarId(%j) is %j", (value, expected) => {
    expect(avatarId(value)).toBe(expected);
  });

  it("takes hashes of up to 128 safe characters", () => {
    expect(avatarHash("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b")).toBe(
      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    );
    expect(avatarHash("a".repeat(128))).toBe("a".repeat(128));
    expect(avatarHash("a".repeat(129))).toBeNull();
    expect(avatarHash("a.b")).toBeNull();
  });

  it("takes Pancake tokens (JWTs) of up to 4096 URL-safe characters", () => {
    expect(pancakeToken("eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiIxIn0.sig-_+/=")).toBe(
      "eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOiIxIn0.sig-_+/=",
    );
    expect(pancakeToken("t".repeat(4097))).toBeNull();
    expect(pancakeToken("a b")).toBeNull();
  });
});

describe("PLACEHOLDER_AVATAR", () => {
  it("is an SVG document", () => {
    expect(PLACEHOLDER_AVATAR.startsWith("<svg")).toBe(true);
    expect(PLACEHOLDER_AVATAR.endsWith("</svg>")).toBe(true);
  });
});
