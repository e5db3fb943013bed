/** Contract cases of the `pancake` tag: the internal API (pancake.vn) and the public API (pages.fm). */
import { createHash } from "node:crypto";
import type { OperationId } from "@n2store/generated";
import { expect } from "vitest";
import { FAKE_CREDENTIALS } from "../../fakes/index.js";
import type { CaseContext, ContractCase } from "../context.js";
import { upstreamMark, upstreamMoved } from "../context.js";
import {
  badIdempotencyKey,
  brokenUpstream,
  chunkedBodyTooLarge,
  contractCase,
  idempotencyCases,
  rawBodyTooLarge,
  untrustedContentCase,
} from "./shared.js";

const PAGE = FAKE_CREDENTIALS.pageIds[0];
const JWT = FAKE_CREDENTIALS.pancake.jwt;
const PAGE_TOKEN = FAKE_CREDENTIALS.pageAccessTokens[PAGE] ?? "";
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** The query of an authenticated pancake-direct call. */
const direct = (extra = "") => `jwt=${encodeURIComponent(JWT)}&page_id=${PAGE}${extra}`;

/** A conversation of the seeded page, for pages.fm calls. */
function conversationId(ctx: CaseContext): string {
  const conversation = ctx.fakes.pancakeStore.conversations.find((c) => c.page_id === PAGE);
  if (conversation === undefined) {
    throw new Error("the Pancake fake has no conversation for the seeded page");
  }
  return String(conversation.id);
}

function expectDirectForwarding(ctx: CaseContext): void {
  const seen = ctx.fakes.pancake.requests.at(-1);
  expect(seen?.headers.cookie).toBe(`jwt=${JWT}; locale=vi`);
  expect(seen?.headers.referer).toBe("https://pancake.vn/");
  expect(seen?.query.has("jwt"), "jwt is not forwarded in the query").toBe(false);
  expect(seen?.query.has("page_id"), "page_id is not forwarded").toBe(false);
}

const METHODS = ["Get", "Post", "Put", "Patch", "Delete"] as const;

function pathNegatives(
  family: "pancakeDirect" | "pancakeOfficial" | "pancakeGeneric",
  prefix: string,
  query: string,
): ContractCase[] {
  const cases: ContractCase[] = [];
  for (const method of METHODS) {
    const id = `${family}${method}` as OperationId;
    const verb = method.toUpperCase();
    cases.push(
      contractCase(
        id,
        "negative",
        "refuses a '..' segment with 400 VALIDATION_FAILED, reaching nothing",
        async (ctx) => {
          const mark = upstreamMark(ctx.fakes);
          await ctx.expectError(
            await ctx.call(verb, `${prefix}/pages%2F..%2F..%2Fadmin?${query}`),
            400,
            "VALIDATION_FAILED",
          );
          expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
        },
      ),
    );
    if (method === "Post" || method === "Put" || method === "Patch") {
      cases.push(rawBodyTooLarge(id, verb, () => ({ path: `${prefix}/pages?${query}` })));
    }
    if (method === "Post" || method === "Patch") {
      cases.push(badIdempotencyKey(id, verb, () => ({ path: `${prefix}/pages?${query}` })));
    }
    if (family === "pancakeGeneric") {
      cases.push(
        contractCase(
          id,
          "negative",
          "refuses an access_token that would add to the cookie (';', spaces) with 400, reaching nothing",
          async (ctx) => {
            const mark = upstreamMark(ctx.fakes);
            const error = await ctx.expectError(
              await ctx.call(verb, `${prefix}/pages?access_token=${encodeURIComponent("t; admin=1")}`),
              400,
              "VALIDATION_FAILED",
            );
            expect(error.details?.map((d) => d.path)).toContainEqual(["query", "access_token"]);
            expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
          },
        ),
      );
    }
    if (family === "pancakeDirect") {
      cases.push(
        contractCase(
          id,
          "negative",
          "refuses a jwt with characters a JWT cannot have with 400 VALIDATION_FAILED",
          async (ctx) => {
            const mark = upstreamMark(ctx.fakes);
            const error = await ctx.expectError(
              await ctx.call(verb, `${prefix}/pages?jwt=${encodeURIComponent("a b;c")}`),
              400,
              "VALIDATION_FAILED",
            );
            expect(error.details?.map((d) => d.path)).toContainEqual(["query", "jwt"]);
            expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
          },
        ),
        contractCase(
          id,
          "negative",
          "refuses a page_id over 64 characters with 400 VALIDATION_FAILED",
          async (ctx) => {
            await ctx.expectError(
              await ctx.call(
                verb,
                `${prefix}/pages?jwt=${encodeURIComponent(JWT)}&page_id=${"1".repeat(65)}`,
              ),
              400,
              "VALIDATION_FAILED",
            );
          },
        ),
      );
    }
  }
  return cases;
}

const directCases: ContractCase[] = [
  contractCase(
    "pancakeDirectGet",
    "happy",
    "sends the caller's jwt as Pancake's cookie with the Referer, not in the query",
    async (ctx) => {
      const response = await ctx.call("GET", `/api/pancake-direct/pages?${direct("&extra=1")}`, {
        headers: { cookie: "caller=secret" },
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body.success).toBe(true);
      expect(body.categorized.activated_page_ids).toContain(PAGE);
      expectDirectForwarding(ctx);
      const seen = ctx.fakes.pancake.requests.at(-1);
      expect(seen?.path).toBe("/api/v1/pages");
      expect(seen?.query.get("extra")).toBe("1");
    },
  ),
  contractCase("pancakeDirectGet", "happy", "passes access_token in the query on", async (ctx) => {
    const response = await ctx.call(
      "GET",
      `/api/pancake-direct/conversations?access_token=${encodeURIComponent(JWT)}`,
    );
    expect(response.status).toBe(200);
    expect(Array.isArray((await ctx.json(response)).conversations)).toBe(true);
    expect(ctx.fakes.pancake.requests.at(-1)?.query.get("access_token")).toBe(JWT);
  }),
  contractCase(
    "pancakeDirectGet",
    "happy",
    "passes Pancake's own refusal of a missing token back unchanged",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/pancake-direct/pages");
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toEqual({
        success: false,
        error_code: 102,
        message: "Invalid access_token",
      });
    },
  ),
  brokenUpstream(
    "pancakeDirectGet",
    "GET",
    "reset",
    { name: "Pancake", fake: (fakes) => fakes.pancake, match: "/api/v1/pages" },
    () => ({ path: `/api/pancake-direct/pages?${direct()}` }),
  ),

  contractCase(
    "pancakeDirectPost",
    "happy",
    "posts through with the cookie and passes Pancake's answer back",
    async (ctx) => {
      const before = ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size ?? 0;
      const response = await ctx.call(
        "POST",
        `/api/pancake-direct/pages/${PAGE}/generate_page_access_token?${direct()}`,
      );
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body).toMatchObject({ success: true, page_access_token: expect.stringMatching(/^pat-/) });
      expect(ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.has(body.page_access_token)).toBe(true);
      expect(ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size).toBe(before + 1);
      expectDirectForwarding(ctx);
    },
  ),
  contractCase("pancakeDirectPost", "happy", "streams a form body through unchanged", async (ctx) => {
    const form = `page_ids=${PAGE}`;
    const response = await ctx.call("POST", `/api/pancake-direct/conversations/search?${direct("&q=kh")}`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
    expect(response.status).toBe(200);
    expect(Array.isArray((await ctx.json(response)).conversations)).toBe(true);
    const seen = ctx.fakes.pancake.requests.at(-1);
    expect(seen?.bodySha256).toBe(sha256(form));
    expect(seen?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
  }),
  ...idempotencyCases(
    "pancakeDirectPost",
    "POST",
    async (_ctx, variant) => ({
      path: `/api/pancake-direct/pages/${PAGE}/generate_page_access_token?${direct()}`,
      init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
    }),
    (ctx) => ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size ?? 0,
  ),
  contractCase("pancakeDirectPut", "happy", "passes a PUT through and Pancake's 404 back", async (ctx) => {
    const body = JSON.stringify({ name: "x" });
    const response = await ctx.call("PUT", `/api/pancake-direct/pages/${PAGE}/settings?${direct()}`, {
      headers: { "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(404);
    expect(await ctx.json(response)).toEqual({ success: false, message: "Not found" });
    expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({ method: "PUT", bodySha256: sha256(body) });
    expectDirectForwarding(ctx);
  }),
  contractCase(
    "pancakeDirectPatch",
    "happy",
    "passes a PATCH through and Pancake's 404 back",
    async (ctx) => {
      const body = JSON.stringify({ tags: [1] });
      const response = await ctx.call("PATCH", `/api/pancake-direct/pages/${PAGE}/settings?${direct()}`, {
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(404);
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({ method: "PATCH", bodySha256: sha256(body) });
    },
  ),
  ...idempotencyCases(
    "pancakeDirectPatch",
    "PATCH",
    async (_ctx, variant) => ({
      path: `/api/pancake-direct/pages/${PAGE}/settings?${direct()}`,
      init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
    }),
    (ctx) => ctx.fakes.pancake.requests.filter((r) => r.method === "PATCH").length,
  ),
  contractCase(
    "pancakeDirectDelete",
    "happy",
    "passes a DELETE through and Pancake's 404 back",
    async (ctx) => {
      const response = await ctx.call("DELETE", `/api/pancake-direct/pages/${PAGE}/tags/1?${direct()}`);
      expect(response.status).toBe(404);
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({
        method: "DELETE",
        path: `/api/v1/pages/${PAGE}/tags/1`,
      });
      expectDirectForwarding(ctx);
    },
  ),
  ...pathNegatives("pancakeDirect", "/api/pancake-direct", direct()),
  chunkedBodyTooLarge("pancakeDirectPatch", "PATCH", () => ({
    path: `/api/pancake-direct/pages/${PAGE}/settings?${direct()}`,
  })),
];

/** The query the shop's pages put on every generic call (`buildUrl.pancake(endpoint, 'access_token=' + jwt)`). */
const generic = (extra = "") => `access_token=${JWT}${extra}`;

/** What the original's generic route sent to pancake.vn: the token in the query and as the jwt cookie. */
function expectGenericForwarding(ctx: CaseContext): void {
  const seen = ctx.fakes.pancake.requests.at(-1);
  expect(seen?.headers.cookie).toBe(`jwt=${JWT}; locale=vi`);
  expect(seen?.headers.referer).toBe("https://pancake.vn/multi_pages");
  expect(seen?.query.get("access_token"), "access_token stays in the query").toBe(JWT);
}

const genericCases: ContractCase[] = [
  contractCase(
    "pancakeGenericGet",
    "happy",
    "lists the user's pages as inbox-pancake-api.js asks (pages?access_token=), without the caller's cookies",
    async (ctx) => {
      const response = await ctx.call("GET", `/api/pancake/pages?${generic()}`, {
        headers: { accept: "application/json", cookie: "caller=secret" },
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body.success).toBe(true);
      expect(body.categorized.activated.map((page: { id: string }) => page.id)).toContain(PAGE);
      expectGenericForwarding(ctx);
      expect(ctx.fakes.pancake.requests.at(-1)?.path).toBe("/api/v1/pages");
    },
  ),
  contractCase(
    "pancakeGenericGet",
    "happy",
    'passes live-chat\'s conversations query (pages[id]=0, tags="ALL", except_tags=[]) on as given',
    async (ctx) => {
      const query = `pages[${PAGE}]=0&unread_first=true&mode=OR&tags=%22ALL%22&except_tags=[]&cursor_mode=true&from_platform=web&${generic()}`;
      const response = await ctx.call("GET", `/api/pancake/conversations?${query}`);
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body.conversations.length).toBeGreaterThan(0);
      expect(body.pages_with_current_count[PAGE]).toBeGreaterThan(0);
      const seen = ctx.fakes.pancake.requests.at(-1);
      expect(seen?.query.get(`pages[${PAGE}]`)).toBe("0");
      expect(seen?.query.get("tags")).toBe('"ALL"');
      expectGenericForwarding(ctx);
    },
  ),
  contractCase(
    "pancakeGenericGet",
    "happy",
    "passes Pancake's own refusal of an expired token back unchanged",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/pancake/pages?access_token=expired.token.x");
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toEqual({
        success: false,
        error_code: 102,
        message: "Invalid access_token",
      });
    },
  ),
  brokenUpstream(
    "pancakeGenericGet",
    "GET",
    "reset",
    { name: "Pancake", fake: (fakes) => fakes.pancake, match: "/api/v1/pages" },
    () => ({ path: `/api/pancake/pages?${generic()}` }),
  ),
  contractCase(
    "pancakeGenericPost",
    "happy",
    "generates a page access token as the inbox does (POST, JSON content type, no body)",
    async (ctx) => {
      const before = ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size ?? 0;
      const response = await ctx.call(
        "POST",
        `/api/pancake/pages/${PAGE}/generate_page_access_token?${generic()}`,
        {
          headers: { accept: "application/json", "content-type": "application/json" },
        },
      );
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body).toMatchObject({ success: true, page_access_token: expect.stringMatching(/^pat-/) });
      expect(ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size).toBe(before + 1);
      expectGenericForwarding(ctx);
    },
  ),
  contractCase(
    "pancakeGenericPost",
    "happy",
    "searches conversations with the inbox's multipart FormData body, streamed through unchanged",
    async (ctx) => {
      const form = new FormData();
      form.append("page_ids", PAGE);
      const encoded = new Request("http://form.invalid/", { method: "POST", body: form });
      const type = encoded.headers.get("content-type") ?? "";
      const bytes = new Uint8Array(await encoded.arrayBuffer());
      const response = await ctx.call(
        "POST",
        `/api/pancake/conversations/search?q=0001&${generic("&cursor_mode=true")}`,
        {
          headers: { "content-type": type },
          body: bytes,
        },
      );
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body.conversations.map((c: { page_id: string }) => c.page_id)).toEqual([PAGE]);
      const seen = ctx.fakes.pancake.requests.at(-1);
      expect(seen?.headers["content-type"]).toBe(type);
      expect(seen?.bodySha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    },
  ),
  ...idempotencyCases(
    "pancakeGenericPost",
    "POST",
    async (_ctx, variant) => ({
      path: `/api/pancake/pages/${PAGE}/generate_page_access_token?${generic()}`,
      init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
    }),
    (ctx) => ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size ?? 0,
  ),
  contractCase("pancakeGenericPut", "happy", "passes a PUT through and Pancake's 404 back", async (ctx) => {
    const body = JSON.stringify({ name: "x" });
    const response = await ctx.call("PUT", `/api/pancake/pages/${PAGE}/settings?${generic()}`, {
      headers: { "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(404);
    expect(await ctx.json(response)).toEqual({ success: false, message: "Not found" });
    expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({ method: "PUT", bodySha256: sha256(body) });
    expectGenericForwarding(ctx);
  }),
  contractCase(
    "pancakeGenericPatch",
    "happy",
    "passes a PATCH through and Pancake's 404 back",
    async (ctx) => {
      const body = JSON.stringify({ tags: [1] });
      const response = await ctx.call("PATCH", `/api/pancake/pages/${PAGE}/settings?${generic()}`, {
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(404);
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({ method: "PATCH", bodySha256: sha256(body) });
    },
  ),
  ...idempotencyCases(
    "pancakeGenericPatch",
    "PATCH",
    async (_ctx, variant) => ({
      path: `/api/pancake/pages/${PAGE}/settings?${generic()}`,
      init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
    }),
    (ctx) => ctx.fakes.pancake.requests.filter((r) => r.method === "PATCH").length,
  ),
  contractCase(
    "pancakeGenericDelete",
    "happy",
    "passes a DELETE through and Pancake's 404 back",
    async (ctx) => {
      const response = await ctx.call("DELETE", `/api/pancake/pages/${PAGE}/tags/1?${generic()}`);
      expect(response.status).toBe(404);
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({
        method: "DELETE",
        path: `/api/v1/pages/${PAGE}/tags/1`,
      });
      expectGenericForwarding(ctx);
    },
  ),
  ...pathNegatives("pancakeGeneric", "/api/pancake", generic()),
  chunkedBodyTooLarge("pancakeGenericPost", "POST", () => ({
    path: `/api/pancake/conversations/search?${generic()}`,
  })),
];

const official = `page_access_token=${encodeURIComponent(PAGE_TOKEN)}`;

const officialCases: ContractCase[] = [
  contractCase(
    "pancakeOfficialGet",
    "happy",
    "passes the query, page token included, on unchanged",
    async (ctx) => {
      const until = Math.floor(Date.now() / 1000) + 60;
      const since = until - 30 * 86_400;
      const response = await ctx.call(
        "GET",
        `/api/pancake-official/pages/${PAGE}/conversations?${official}&since=${since}&until=${until}&order_by=updated_at`,
      );
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body.success).toBe(true);
      expect(body.conversations.length).toBeGreaterThan(0);
      const seen = ctx.fakes.pagesFm.requests.at(-1);
      expect(seen?.path).toBe(`/api/public_api/v1/pages/${PAGE}/conversations`);
      expect(seen?.query.get("page_access_token")).toBe(PAGE_TOKEN);
      expect(seen?.query.get("since")).toBe(String(since));
    },
  ),
  contractCase(
    "pancakeOfficialGet",
    "happy",
    "passes pages.fm's refusal of a bad page token back unchanged",
    async (ctx) => {
      const response = await ctx.call(
        "GET",
        `/api/pancake-official/pages/${PAGE}/conversations?page_access_token=wrong`,
      );
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toEqual({
        success: false,
        error_code: 105,
        message: "Invalid page_access_token",
      });
    },
  ),
  brokenUpstream(
    "pancakeOfficialGet",
    "GET",
    "reset",
    { name: "pages.fm", fake: (fakes) => fakes.pagesFm },
    () => ({ path: `/api/pancake-official/pages/${PAGE}/conversations?${official}` }),
  ),
  contractCase(
    "pancakeOfficialPost",
    "happy",
    "posts a reply through and pages.fm records it once",
    async (ctx) => {
      const before = ctx.fakes.pagesFm.sent.length;
      const text = ctx.unique("Dạ shop chào chị");
      const response = await ctx.call(
        "POST",
        `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
        { json: { action: "reply_inbox", message: text } },
      );
      expect(response.status).toBe(200);
      expect((await ctx.json(response)).success).toBe(true);
      expect(ctx.fakes.pagesFm.sent.length).toBe(before + 1);
      expect(ctx.fakes.pagesFm.sent.at(-1)?.body.message).toBe(text);
    },
  ),
  ...idempotencyCases(
    "pancakeOfficialPost",
    "POST",
    async (ctx, variant) => ({
      path: `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
      init: { json: { action: "reply_inbox", message: `Một lần thôi ${variant}` } },
    }),
    (ctx) => ctx.fakes.pagesFm.sent.length,
  ),
  contractCase("pancakeOfficialPut", "happy", "passes a PUT through and pages.fm's 405 back", async (ctx) => {
    const response = await ctx.call(
      "PUT",
      `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
      { json: { message: "x" } },
    );
    expect(response.status).toBe(405);
    expect(await ctx.json(response)).toEqual({ success: false, message: "Method not allowed" });
    expect(ctx.fakes.pagesFm.requests.at(-1)?.method).toBe("PUT");
  }),
  contractCase(
    "pancakeOfficialPatch",
    "happy",
    "passes a PATCH through and pages.fm's 405 back",
    async (ctx) => {
      const response = await ctx.call(
        "PATCH",
        `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
        { json: { message: "x" } },
      );
      expect(response.status).toBe(405);
      expect(ctx.fakes.pagesFm.requests.at(-1)?.method).toBe("PATCH");
    },
  ),
  ...idempotencyCases(
    "pancakeOfficialPatch",
    "PATCH",
    async (ctx, variant) => ({
      path: `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
      init: { json: { message: `x${variant}` } },
    }),
    (ctx) => ctx.fakes.pagesFm.requests.filter((r) => r.method === "PATCH").length,
  ),
  contractCase(
    "pancakeOfficialDelete",
    "happy",
    "passes a DELETE through and pages.fm's 405 back",
    async (ctx) => {
      const response = await ctx.call(
        "DELETE",
        `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
      );
      expect(response.status).toBe(405);
      expect(ctx.fakes.pagesFm.requests.at(-1)).toMatchObject({ method: "DELETE", bodyBytes: 0 });
    },
  ),
  ...pathNegatives("pancakeOfficial", "/api/pancake-official", official),
  chunkedBodyTooLarge("pancakeOfficialPost", "POST", (ctx) => ({
    path: `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`,
  })),
];

export const pancakeCases: ContractCase[] = [
  ...directCases,
  ...genericCases,
  ...officialCases,
  untrustedContentCase("pancakeDirectGet", "GET", async () => ({
    path: `/api/pancake-direct/pages?${direct()}`,
  })),
  untrustedContentCase("pancakeGenericGet", "GET", async () => ({ path: `/api/pancake/pages?${generic()}` })),
  untrustedContentCase("pancakeOfficialGet", "GET", async () => ({
    path: `/api/pancake-official/pages/${PAGE}/conversations?${official}`,
  })),
];
