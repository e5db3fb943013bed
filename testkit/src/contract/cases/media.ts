/** Contract cases of the `media` tag: the generic proxy, the image proxy and the avatars. */
import { createHash } from "node:crypto";
import type { OperationId } from "@n2store/generated";
import { expect } from "vitest";
import { FAKE_CREDENTIALS, pancakeAvatarHash, TINY_JPEG, TINY_PNG } from "../../fakes/index.js";
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
        "refuses headers it does not allow, or not JSON, with 400 VALIDATION_FAILED",
        async (ctx) => {
          const mark = upstreamMark(ctx.fakes);
          for (const headers of [
            '{"cookie":"a=b"}',
            '{"authorization":"Bearer x"}',
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
    "answers 502 UPSTREAM_BAD_RESPONSE when the target is not an image",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("GET", `/api/image-proxy?url=${q(echoUrl(ctx))}`),
        502,
        "UPSTREAM_BAD_RESPONSE",
      );
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
    "refuses loopback, metadata and unlisted targets with 403 TARGET_NOT_ALLOWED",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      for (const target of FORBIDDEN_TARGETS) {
        await ctx.expectError(
          await ctx.call("GET", `/api/image-proxy?url=${q(target)}`),
          403,
          "TARGET_NOT_ALLOWED",
        );
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
    "refuses a missing or non-numeric id, page or an oversized token with 400",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      await expectQueryRefused(ctx, "/api/fb-avatar", [
        ["", "id"],
        ["id=abc", "id"],
        ["id=1.5", "id"],
        [`id=${"1".repeat(31)}`, "id"],
        ["id=1&page=../x", "page"],
        [`id=1&token=${"t".repeat(2049)}`, "token"],
      ]);
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
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
    "refuses a missing hash or one with path characters with 400",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      for (const query of ["", "hash=", "hash=..%2F..%2Fetc", "hash=a.b", `hash=${"a".repeat(129)}`]) {
        const error = await ctx.expectError(
          await ctx.call("GET", `/api/pancake-avatar?${query}`),
          400,
          "VALIDATION_FAILED",
        );
        expect(
          error.details?.map((d) => d.path),
          query,
        ).toContainEqual(["query", "hash"]);
      }
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),
];

export const mediaCases: ContractCase[] = [...proxyCases(), ...imageCases, ...avatarCases];
