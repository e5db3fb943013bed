/** Contract cases of the `media` tag: the generic proxy, the image proxy and the avatars. */
import { createHash } from "node:crypto";
import type { OperationId } from "@n2store/generated";
import { expect } from "vitest";
import {
  ANIMATED_GIF,
  FAKE_CREDENTIALS,
  imageSize,
  LOGO_SVG,
  PHOTO_JPEG,
  PHOTO_SIZE,
  pancakeAvatarHash,
  photoPng,
  TINY_JPEG,
  TINY_PNG,
  VIDEO_BYTES,
  videoByteAt,
} from "../../fakes/index.js";
import type { CaseContext, ContractCase } from "../context.js";
import { upstreamMark, upstreamMoved } from "../context.js";
import {
  brokenUpstream,
  chunkedBodyTooLarge,
  contractCase,
  expectQueryRefused,
  idempotencyCases,
  rawBodyTooLarge,
} from "./shared.js";

const PAGE = FAKE_CREDENTIALS.pageIds[0];
const { inWindow } = FAKE_CREDENTIALS.psids;
const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const q = encodeURIComponent;

/** URLs the SSRF guard must refuse with 403 TARGET_NOT_ALLOWED without connecting anywhere. */
const FORBIDDEN_TARGETS = [
  "http://127.0.0.1:1/",
  "http://2130706433/",
  "http://[::1]/",
  "http://[::ffff:127.0.0.1]/",
  "http://169.254.169.254/latest/meta-data/",
  "http://10.0.0.1/",
  "http://localhost/",
  "https://example.com/",
];

/** URLs that are not an absolute http(s) URL without credentials: 400 INVALID_TARGET_URL. */
const INVALID_TARGETS = [
  "ftp://example.com/file",
  "file:///etc/passwd",
  "/relative/path",
  "http://user:pass@example.com/",
  "javascript:alert(1)",
];

const echoUrl = (ctx: CaseContext, path = "/echo/proxy") => `${ctx.fakes.cdn.url}${path}`;

/**
 * The headers orders-report's address look-up (api-handler.js:157-172) sends in `headers=`
 * to tienich.vnhub.com through /api/proxy, verbatim.
 */
const ADDRESS_LOOKUP_HEADERS = {
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

const PROXY_METHODS = [
  ["proxyGet", "GET"],
  ["proxyPost", "POST"],
  ["proxyPut", "PUT"],
  ["proxyPatch", "PATCH"],
  ["proxyDelete", "DELETE"],
] as const satisfies readonly (readonly [OperationId, string])[];

function proxyCases(): ContractCase[] {
  const cases: ContractCase[] = [];
  for (const [id, method] of PROXY_METHODS) {
    const hasBody = method === "POST" || method === "PUT" || method === "PATCH";
    cases.push(
      contractCase(
        id,
        "happy",
        `${method}s an allowed URL without the caller's cookies and credentials`,
        async (ctx) => {
          const body = hasBody ? JSON.stringify({ Ids: [1, 2], method }) : undefined;
          const response = await ctx.call(
            method,
            `/api/proxy?url=${q(echoUrl(ctx))}&headers=${q('{"accept-language":"vi"}')}`,
            {
              headers: {
                cookie: "session=caller-secret",
                authorization: "Bearer caller-secret",
                ...(hasBody ? { "content-type": "application/json" } : {}),
              },
              ...(body === undefined ? {} : { body }),
            },
          );
          expect(response.status).toBe(200);
          expect(response.headers.get("x-content-type-options")).toBe("nosniff");
          expect(response.headers.get("content-security-policy")).toContain("sandbox");
          const echoed = await ctx.json(response);
          expect(echoed).toMatchObject({ method, path: "/echo/proxy" });
          expect(echoed.headers.cookie).toBeUndefined();
          expect(echoed.headers.authorization).toBeUndefined();
          expect(echoed.headers["accept-language"]).toBe("vi");
          if (body !== undefined) {
            expect(echoed.bodySha256).toBe(sha256(body));
            expect(echoed.headers["content-type"]).toBe("application/json");
          } else {
            expect(echoed.bodyLength).toBe(0);
          }
        },
      ),
      contractCase(
        id,
        "negative",
        "refuses private, loopback, metadata and unlisted targets with 403 TARGET_NOT_ALLOWED",
        async (ctx) => {
          const mark = upstreamMark(ctx.fakes);
          for (const target of FORBIDDEN_TARGETS) {
            const response = await ctx.call(
              method,
              `/api/proxy?url=${q(target)}`,
              hasBody ? { body: "{}" } : {},
            );
            const error = await ctx.expectError(response, 403, "TARGET_NOT_ALLOWED");
            // The same words for every reason: the proxy is no port-scan oracle.
            expect(error.message, target).toBe("The target host is not allowed.");
          }
          expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
        },
      ),
      contractCase(id, "negative", "refuses a missing or non-http(s) url with 400", async (ctx) => {
        await ctx.expectError(await ctx.call(method, "/api/proxy"), 400, "VALIDATION_FAILED");
        for (const target of INVALID_TARGETS) {
          await ctx.expectError(
            await ctx.call(method, `/api/proxy?url=${q(target)}`),
            400,
            "INVALID_TARGET_URL",
          );
        }
      }),
      contractCase(
        id,
        "negative",
        "refuses credentials in headers=, or headers= that is not a JSON object of header lines, with 400 VALIDATION_FAILED",
        async (ctx) => {
          const mark = upstreamMark(ctx.fakes);
          for (const headers of [
            // The address look-up's headers with a Cookie added: still refused whole.
            JSON.stringify({ ...ADDRESS_LOOKUP_HEADERS, Cookie: "session=abc" }),
            '{"authorization":"Bearer x"}',
            '{"Proxy-Authorization":"Basic eA=="}',
            '{"dnt":"1"}',
            '{"bad name":"x"}',
            '{"accept":"vi\\r\\nx-injected: 1"}',
            "not json",
            '["accept"]',
            '{"accept":1}',
          ]) {
            const error = await ctx.expectError(
              await ctx.call(method, `/api/proxy?url=${q(echoUrl(ctx))}&headers=${q(headers)}`),
              400,
              "VALIDATION_FAILED",
            );
            expect(error.details?.map((d) => d.path)).toContainEqual(["query", "headers"]);
          }
          expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
        },
      ),
    );
    if (hasBody) {
      cases.push(rawBodyTooLarge(id, method, (ctx) => ({ path: `/api/proxy?url=${q(echoUrl(ctx))}` })));
    }
  }
  cases.push(
    contractCase(
      "proxyPost",
      "happy",
      "sends the address look-up's headers= as the page does: Origin, Referer, sec-* and x-kas, never its Host",
      async (ctx) => {
        const body = JSON.stringify({ address: "28 Lê Lợi, Bến Nghé, Quận 1" });
        // api-handler.js:175-181: POST, Content-Type application/json, headers= as a JSON string.
        const response = await ctx.call(
          "POST",
          `/api/proxy?url=${q(echoUrl(ctx, "/echo/api/wards"))}&headers=${q(
            JSON.stringify({
              ...ADDRESS_LOOKUP_HEADERS,
              "X-Forwarded-For": "203.0.113.7",
              Connection: "close",
            }),
          )}`,
          { headers: { "content-type": "application/json" }, body },
        );
        expect(response.status).toBe(200);
        const echoed = await ctx.json(response);
        const cdn = new URL(ctx.fakes.cdn.url);
        expect(echoed.headers.host, "the target's own Host, not the page's").toBe(cdn.host);
        expect(echoed.headers).toMatchObject({
          origin: "https://tienich.vnhub.com",
          referer: "https://tienich.vnhub.com/",
          accept: "application/json, text/plain, */*",
          "accept-language": "en-US,en;q=0.9,vi;q=0.8",
          "content-type": "application/json",
          "sec-ch-ua": ADDRESS_LOOKUP_HEADERS["sec-ch-ua"],
          "sec-ch-ua-mobile": "?0",
          "sec-ch-ua-platform": '"macOS"',
          "sec-fetch-dest": "empty",
          "sec-fetch-mode": "cors",
          "sec-fetch-site": "same-origin",
          "x-kas": "89232422",
        });
        // Dropped without an error: no client address claimed for the caller.
        expect(echoed.headers["x-forwarded-for"]).not.toBe("203.0.113.7");
        expect(echoed.bodySha256).toBe(sha256(body));
      },
    ),
    contractCase(
      "proxyGet",
      "happy",
      "fetches a QR image as balance-verification does (no headers=) and passes it back",
      async (ctx) => {
        // balance-verification.js:593: `/api/proxy?url=${encodeURIComponent(currentInlineQRUrl)}`.
        const response = await ctx.call(
          "GET",
          `/api/proxy?url=${q(ctx.fakes.cdn.imageUrl("vietqr", "png"))}`,
        );
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe("image/png");
        expect(Buffer.from(await response.arrayBuffer()).equals(TINY_PNG)).toBe(true);
      },
    ),
    chunkedBodyTooLarge("proxyPost", "POST", (ctx) => ({ path: `/api/proxy?url=${q(echoUrl(ctx))}` })),
    contractCase(
      "proxyGet",
      "negative",
      "re-checks every redirect: a hop to loopback is 403 TARGET_NOT_ALLOWED",
      async (ctx) => {
        const target = ctx.fakes.cdn.redirectUrl("http://127.0.0.1:1/");
        await ctx.expectError(
          await ctx.call("GET", `/api/proxy?url=${q(target)}`),
          403,
          "TARGET_NOT_ALLOWED",
        );
      },
    ),
    contractCase(
      "proxyGet",
      "negative",
      "answers 502 TOO_MANY_REDIRECTS for a redirect loop",
      async (ctx) => {
        await ctx.expectError(
          await ctx.call("GET", `/api/proxy?url=${q(ctx.fakes.cdn.loopUrl)}`),
          502,
          "TOO_MANY_REDIRECTS",
        );
      },
    ),
    contractCase(
      "proxyGet",
      "happy",
      "follows an allowed redirect and passes the target's answer back",
      async (ctx) => {
        const target = ctx.fakes.cdn.redirectUrl(ctx.fakes.cdn.imageUrl("hop", "png"));
        const response = await ctx.call("GET", `/api/proxy?url=${q(target)}`);
        expect(response.status).toBe(200);
        expect(Buffer.from(await response.arrayBuffer()).equals(TINY_PNG)).toBe(true);
      },
    ),
    contractCase("proxyGet", "happy", "passes the target's own 404 back unchanged", async (ctx) => {
      const response = await ctx.call("GET", `/api/proxy?url=${q(`${ctx.fakes.cdn.url}/nothing-here`)}`);
      expect(response.status).toBe(404);
      expect(await response.text()).toBe("Not Found");
    }),
    brokenUpstream(
      "proxyGet",
      "GET",
      "reset",
      { name: "the target", fake: (fakes) => fakes.cdn, match: "/echo" },
      (ctx) => ({ path: `/api/proxy?url=${q(echoUrl(ctx))}` }),
    ),
    ...idempotencyCases(
      "proxyPost",
      "POST",
      async (ctx, variant) => ({
        path: `/api/proxy?url=${q(echoUrl(ctx, "/echo/keyed"))}`,
        init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
      }),
      (ctx) => ctx.fakes.cdn.requests.filter((r) => r.path === "/echo/keyed").length,
    ),
    ...idempotencyCases(
      "proxyPatch",
      "PATCH",
      async (ctx, variant) => ({
        path: `/api/proxy?url=${q(echoUrl(ctx, "/echo/keyed-patch"))}`,
        init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
      }),
      (ctx) => ctx.fakes.cdn.requests.filter((r) => r.path === "/echo/keyed-patch").length,
    ),
  );
  return cases;
}

const imageCases: ContractCase[] = [
  contractCase(
    "getProxiedImage",
    "happy",
    "streams an allowed image with its type and a one-day cache",
    async (ctx) => {
      const response = await ctx.call(
        "GET",
        `/api/image-proxy?url=${q(ctx.fakes.cdn.imageUrl("photo", "png"))}`,
        {
          headers: { cookie: "session=caller-secret" },
        },
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("image/png");
      expect(response.headers.get("cache-control")).toBe("public, max-age=86400");
      expect(Buffer.from(await response.arrayBuffer()).equals(TINY_PNG)).toBe(true);
      expect(ctx.fakes.cdn.requests.at(-1)?.headers.cookie).toBeUndefined();
    },
  ),
  contractCase(
    "getProxiedImage",
    "negative",
    "answers 502 UPSTREAM_BAD_RESPONSE when the target is HTML or JSON, with or without w and q",
    async (ctx) => {
      for (const target of [ctx.fakes.cdn.htmlUrl, echoUrl(ctx)]) {
        for (const resize of ["", "&w=900&q=70"]) {
          const error = await ctx.expectError(
            await ctx.call("GET", `/api/image-proxy?url=${q(target)}${resize}`),
            502,
            "UPSTREAM_BAD_RESPONSE",
          );
          expect(error.message, `${target}${resize}`).toContain("did not answer with an image or a video");
        }
      }
    },
  ),
  contractCase(
    "getProxiedImage",
    "happy",
    "answers delivery-report's &w=900&q=70 with a smaller image at most 900 wide (Node), or a whole one (edge)",
    async (ctx) => {
      // delivery-report.js:5433: `/api/image-proxy?url=${encodeURIComponent(imageUrl)}&w=900&q=70`.
      for (const [ext, original] of [
        ["jpg", PHOTO_JPEG],
        ["png", photoPng(PHOTO_SIZE.width, PHOTO_SIZE.height)],
      ] as const) {
        const response = await ctx.call(
          "GET",
          `/api/image-proxy?url=${q(ctx.fakes.cdn.photoUrl(ext))}&w=900&q=70`,
        );
        expect(response.status, ext).toBe(200);
        const type = ext === "jpg" ? "image/jpeg" : "image/png";
        expect(response.headers.get("content-type"), ext).toBe(type);
        expect(response.headers.get("cache-control")).toBe("public, max-age=86400");
        const bytes = new Uint8Array(await response.arrayBuffer());
        const size = imageSize(bytes);
        const outcome = response.headers.get("x-image-resize");
        if (ctx.runtime === "node" || outcome === "forwarded") {
          expect(outcome, ext).toBe(ctx.runtime === "node" ? "resized" : "forwarded");
          expect(size, ext).toEqual({ format: ext === "jpg" ? "jpeg" : "png", width: 900, height: 600 });
          expect(bytes.length, `${ext}: smaller than the original`).toBeLessThan(original.length);
        } else {
          // The edge without NODE_SERVER_URL: the original, whole and unchanged, never an error.
          expect(outcome, ext).toBe("original");
          expect(Buffer.from(bytes).equals(original), ext).toBe(true);
        }
      }
    },
  ),
  contractCase(
    "getProxiedImage",
    "happy",
    "passes an animated GIF and an SVG unchanged even when asked to resize",
    async (ctx) => {
      for (const [url, type, original] of [
        [ctx.fakes.cdn.gifUrl, "image/gif", ANIMATED_GIF],
        [ctx.fakes.cdn.svgUrl, "image/svg+xml", Buffer.from(LOGO_SVG)],
      ] as const) {
        const response = await ctx.call("GET", `/api/image-proxy?url=${q(url)}&w=2&q=10`);
        expect(response.status, type).toBe(200);
        expect(response.headers.get("content-type"), type).toBe(type);
        expect(response.headers.get("x-image-resize"), type).toBe("original");
        expect(Buffer.from(await response.arrayBuffer()).equals(original), type).toBe(true);
      }
    },
  ),
  contractCase(
    "getProxiedImage",
    "happy",
    "plays the chat's video with ranges: 206 with Content-Range, and a seek gets exactly those bytes",
    async (ctx) => {
      // tab1-chat-messages.js:521: `<source src="${workerUrl}/api/image-proxy?url=${encodeURIComponent(videoUrl)}">`;
      // the browser's player then asks for ranges.
      const path = `/api/image-proxy?url=${q(ctx.fakes.cdn.videoUrl)}`;
      const whole = await ctx.call("GET", path);
      expect(whole.status).toBe(200);
      expect(whole.headers.get("content-type")).toBe("video/mp4");
      expect(whole.headers.get("accept-ranges")).toBe("bytes");
      expect((await whole.arrayBuffer()).byteLength).toBe(VIDEO_BYTES);
      for (const [range, start, end] of [
        ["bytes=0-1023", 0, 1023],
        ["bytes=600000-", 600000, VIDEO_BYTES - 1],
        ["bytes=-4096", VIDEO_BYTES - 4096, VIDEO_BYTES - 1],
      ] as const) {
        const response = await ctx.call("GET", path, { headers: { range } });
        expect(response.status, range).toBe(206);
        expect(response.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${VIDEO_BYTES}`);
        expect(response.headers.get("accept-ranges"), range).toBe("bytes");
        expect(response.headers.get("content-type"), range).toBe("video/mp4");
        const bytes = new Uint8Array(await response.arrayBuffer());
        expect(bytes.length, range).toBe(end - start + 1);
        const expected = Uint8Array.from({ length: bytes.length }, (_, i) => videoByteAt(start + i));
        expect(Buffer.from(bytes).equals(Buffer.from(expected)), range).toBe(true);
        expect(ctx.fakes.cdn.requests.at(-1)?.headers.range, "the range reached the CDN").toBe(range);
      }
    },
  ),
  contractCase(
    "getProxiedImage",
    "negative",
    "passes the target's 416 back with Content-Range for a range past the end",
    async (ctx) => {
      const response = await ctx.call("GET", `/api/image-proxy?url=${q(ctx.fakes.cdn.videoUrl)}`, {
        headers: { range: `bytes=${VIDEO_BYTES}-` },
      });
      expect(response.status).toBe(416);
      expect(response.headers.get("content-range")).toBe(`bytes */${VIDEO_BYTES}`);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    },
  ),
  contractCase(
    "getProxiedImage",
    "negative",
    "refuses a w or q that is not a whole number in range with 400, reaching nothing",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      const url = q(ctx.fakes.cdn.photoUrl("jpg"));
      await expectQueryRefused(ctx, "/api/image-proxy", [
        [`url=${url}&w=abc`, "w"],
        [`url=${url}&w=0`, "w"],
        [`url=${url}&w=4001`, "w"],
        [`url=${url}&w=1.5`, "w"],
        [`url=${url}&w=-900`, "w"],
        [`url=${url}&w=900&q=0`, "q"],
        [`url=${url}&w=900&q=101`, "q"],
        [`url=${url}&q=seventy`, "q"],
        [`url=${url}&q=Infinity`, "q"],
      ]);
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),
  contractCase("getProxiedImage", "happy", "passes the target's own 404 back", async (ctx) => {
    const response = await ctx.call(
      "GET",
      `/api/image-proxy?url=${q(`${ctx.fakes.cdn.url}/img/missing.gif`)}`,
    );
    expect(response.status).toBe(404);
  }),
  contractCase(
    "getProxiedImage",
    "negative",
    "refuses loopback, metadata and unlisted targets with 403 TARGET_NOT_ALLOWED, resizing or not",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      for (const target of FORBIDDEN_TARGETS) {
        for (const resize of ["", "&w=900&q=70"]) {
          await ctx.expectError(
            await ctx.call("GET", `/api/image-proxy?url=${q(target)}${resize}`),
            403,
            "TARGET_NOT_ALLOWED",
          );
        }
      }
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),
  contractCase(
    "getProxiedImage",
    "negative",
    "refuses a missing or non-http(s) url with 400",
    async (ctx) => {
      await ctx.expectError(await ctx.call("GET", "/api/image-proxy"), 400, "VALIDATION_FAILED");
      await ctx.expectError(
        await ctx.call("GET", `/api/image-proxy?url=${"x".repeat(4097)}`),
        400,
        "VALIDATION_FAILED",
      );
      for (const target of INVALID_TARGETS) {
        await ctx.expectError(
          await ctx.call("GET", `/api/image-proxy?url=${q(target)}`),
          400,
          "INVALID_TARGET_URL",
        );
      }
    },
  ),
];

/** An avatar answer: the image or the placeholder, with where it came from. */
async function expectAvatar(response: Response, source: string, type: string): Promise<Uint8Array> {
  expect(response.status).toBe(200);
  expect(response.headers.get("x-avatar-source")).toBe(source);
  expect(response.headers.get("content-type")).toContain(type);
  return new Uint8Array(await response.arrayBuffer());
}

const avatarCases: ContractCase[] = [
  contractCase(
    "getFacebookAvatar",
    "happy",
    "answers Graph's picture, through its redirect, when no page is given",
    async (ctx) => {
      const bytes = await expectAvatar(
        await ctx.call("GET", `/api/fb-avatar?id=${inWindow}`),
        "graph",
        "image/jpeg",
      );
      expect(Buffer.from(bytes).equals(TINY_JPEG)).toBe(true);
      expect(ctx.fakes.graph.requests.some((r) => r.path === `/v26.0/${inWindow}/picture`)).toBe(true);
    },
  ),
  contractCase(
    "getFacebookAvatar",
    "happy",
    "asks Pancake first for a page, sending the token to Pancake only",
    async (ctx) => {
      const graphCalls = ctx.fakes.graph.requests.length;
      const response = await ctx.call(
        "GET",
        `/api/fb-avatar?id=${inWindow}&page=${PAGE}&token=pancake-user-token`,
      );
      await expectAvatar(response, "pancake", "image/jpeg");
      const asked = ctx.fakes.pancake.requests.at(-1);
      expect(asked?.path).toBe(`/api/v1/pages/${PAGE}/avatar/${inWindow}`);
      expect(asked?.query.get("access_token")).toBe("pancake-user-token");
      expect(ctx.fakes.graph.requests.length, "Graph is not asked when Pancake has the avatar").toBe(
        graphCalls,
      );
    },
  ),
  contractCase(
    "getFacebookAvatar",
    "happy",
    "answers the SVG placeholder for an id nobody knows",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/fb-avatar?id=123456789");
      await expectAvatar(response, "placeholder", "image/svg+xml");
      expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
    },
  ),
  contractCase(
    "getFacebookAvatar",
    "happy",
    "answers the placeholder when Graph drops the connection",
    async (ctx) => {
      ctx.fakes.graph.fault.set({ mode: "reset" }, { times: 1, match: /\/picture$/ });
      await expectAvatar(
        await ctx.call("GET", `/api/fb-avatar?id=${inWindow}`),
        "placeholder",
        "image/svg+xml",
      );
    },
  ),
  contractCase(
    "getFacebookAvatar",
    "negative",
    "answers the placeholder, never JSON, for an id it cannot use, reaching no upstream",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      // As the pages build it (`?id=${fbId}${pageId ? '&page=' + pageId : ''}`) with a missing id,
      // an empty page, or ids that are not safe in an upstream path.
      for (const query of [
        "",
        "id=",
        "id=undefined",
        "id=null&page=",
        `id=undefined&page=${PAGE}`,
        `id=..%2F..%2Fapi%2Fv1%2Fpages&page=${PAGE}`,
        "id=1.5",
        `id=${"1".repeat(65)}`,
        "id=%20",
        "id=abc%3Fx%3D1&page=",
        `page=${PAGE}&token=pancake-user-token`,
      ]) {
        const response = await ctx.call("GET", `/api/fb-avatar?${query}`);
        await expectAvatar(response, "placeholder", "image/svg+xml");
        expect(response.headers.get("cache-control"), query).toBe("public, max-age=3600");
      }
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),
  contractCase(
    "getFacebookAvatar",
    "happy",
    "asks Graph only when the page is empty, as tab1-table.js sends it for an order without a page",
    async (ctx) => {
      const pancakeCalls = ctx.fakes.pancake.requests.length;
      await expectAvatar(await ctx.call("GET", `/api/fb-avatar?id=${inWindow}&page=`), "graph", "image/jpeg");
      expect(ctx.fakes.pancake.requests.length).toBe(pancakeCalls);
    },
  ),
  contractCase(
    "getFacebookAvatar",
    "happy",
    "asks Pancake, and only Pancake, for an id that is not numeric",
    async (ctx) => {
      const zaloId = `pzl_${ctx.uniqueDigits(12)}`;
      ctx.fakes.pancakeContent.addAvatar(zaloId);
      const graphCalls = ctx.fakes.graph.requests.length;
      const bytes = await expectAvatar(
        await ctx.call("GET", `/api/fb-avatar?id=${zaloId}&page=${PAGE}`),
        "pancake",
        "image/jpeg",
      );
      expect(Buffer.from(bytes).equals(TINY_JPEG)).toBe(true);
      expect(ctx.fakes.pancake.requests.at(-1)?.path).toBe(`/api/v1/pages/${PAGE}/avatar/${zaloId}`);
      expect(ctx.fakes.graph.requests.length, "a non-numeric id never goes to Graph").toBe(graphCalls);
    },
  ),

  contractCase(
    "getPancakeAvatar",
    "happy",
    "streams Pancake's content avatar for a known hash",
    async (ctx) => {
      const hash = pancakeAvatarHash(inWindow);
      const bytes = await expectAvatar(
        await ctx.call("GET", `/api/pancake-avatar?hash=${hash}`),
        "pancake-content",
        "image/jpeg",
      );
      expect(Buffer.from(bytes).equals(TINY_JPEG)).toBe(true);
      expect(ctx.fakes.pancakeContent.requests.at(-1)?.path).toBe(`/2.1-24/avatars/${hash}`);
    },
  ),
  contractCase(
    "getPancakeAvatar",
    "happy",
    "answers the placeholder for a hash Pancake does not have",
    async (ctx) => {
      await expectAvatar(
        await ctx.call("GET", "/api/pancake-avatar?hash=0000deadbeef"),
        "placeholder",
        "image/svg+xml",
      );
    },
  ),
  contractCase(
    "getPancakeAvatar",
    "negative",
    "answers the placeholder, never JSON, for a missing hash or one with path characters, reaching nothing",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      for (const query of [
        "",
        "hash=",
        "hash=..%2F..%2Fetc",
        "hash=a.b",
        `hash=${"a".repeat(129)}`,
        "hash=undefined%2F",
      ]) {
        await expectAvatar(
          await ctx.call("GET", `/api/pancake-avatar?${query}`),
          "placeholder",
          "image/svg+xml",
        );
      }
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),
];

export const mediaCases: ContractCase[] = [...proxyCases(), ...imageCases, ...avatarCases];
