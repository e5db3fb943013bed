/** Contract cases of the `pancake` tag: the internal API (pancake.vn) and the public API (pages.fm). */
import { createHash } from "node:crypto";
import type { OperationId } from "@n2store/generated";
import { expect } from "vitest";
import { FAKE_CREDENTIALS } from "../../fakes/index.js";
import type { CaseContext, ContractCase } from "../context.js";
import {
  badIdempotencyKey,
  brokenUpstream,
  chunkedBodyTooLarge,
  contractCase,
  expectRefused,
  idempotencyCases,
  NO_UPSTREAM,
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

/** Pancake and pages.fm refuse a token with HTTP 200 and `success: false`: the gateway passes that on as is. */
function refusalPassedBack(
  operationId: OperationId,
  name: string,
  path: string,
  answer: object,
): ContractCase {
  return contractCase(operationId, "happy", name, async (ctx) => {
    const response = await ctx.call("GET", path);
    expect(response.status).toBe(200);
    expect(await ctx.json(response)).toEqual(answer);
  });
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
    /** A query parameter `field` set to `value` is refused, naming the field, before Pancake is reached. */
    const refusesQuery = (name: string, field: string, value: string) =>
      contractCase(id, "negative", name, async (ctx) => {
        const path = `${prefix}/pages?${field}=${encodeURIComponent(value)}`;
        const error = await expectRefused(ctx, verb, { path }, 400, "VALIDATION_FAILED", NO_UPSTREAM);
        expect(error.details?.map((d) => d.path)).toContainEqual(["query", field]);
      });
    cases.push(
      contractCase(
        id,
        "negative",
        "refuses a '..' segment with 400 VALIDATION_FAILED, reaching nothing",
        async (ctx) => {
          const path = `${prefix}/pages%2F..%2F..%2Fadmin?${query}`;
          await expectRefused(ctx, verb, { path }, 400, "VALIDATION_FAILED", NO_UPSTREAM);
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
        refusesQuery(
          "refuses an access_token that would add to the cookie (';', spaces) with 400, reaching nothing",
          "access_token",
          "t; admin=1",
        ),
      );
    }
    if (family === "pancakeDirect") {
      cases.push(
        refusesQuery(
          "refuses a jwt with characters a JWT cannot have with 400 VALIDATION_FAILED",
          "jwt",
          "a b;c",
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

/** How a pancake.vn family (pancake-direct or the generic route) is called and what it forwards. */
interface PancakeVnFamily {
  readonly family: "pancakeDirect" | "pancakeGeneric";
  /** The gateway's path prefix. */
  readonly prefix: string;
  /** The query that authenticates a call, with `extra` appended. */
  readonly query: (extra?: string) => string;
  /** Asserts what the last request to Pancake carried (cookie, Referer, token placement). */
  readonly expectForwarding: (ctx: CaseContext) => void;
  /** A call with a token Pancake refuses, and what is wrong with the token, for the case title. */
  readonly badToken: { readonly path: string; readonly says: string };
  /** The title of the page-token case, and the headers its caller sends (the inbox sends JSON ones). */
  readonly newPageToken: { readonly name: string; readonly headers?: Record<string, string> };
}

/**
 * The cases both pancake.vn families answer alike: a reset upstream, idempotent POST and PATCH,
 * Pancake's 404 passed back for PUT, PATCH and DELETE, and the path negatives.
 */
function pancakeVnCases({
  family,
  prefix,
  query,
  expectForwarding,
  badToken,
  newPageToken,
}: PancakeVnFamily): ContractCase[] {
  const id = (method: (typeof METHODS)[number]) => `${family}${method}` as OperationId;
  const settings = `${prefix}/pages/${PAGE}/settings?${query()}`;
  return [
    refusalPassedBack(
      id("Get"),
      `passes Pancake's own refusal of ${badToken.says} back unchanged`,
      badToken.path,
      { success: false, error_code: 102, message: "Invalid access_token" },
    ),
    contractCase(id("Post"), "happy", newPageToken.name, async (ctx) => {
      const tokens = () => ctx.fakes.pancakeStore.pageTokens.get(PAGE);
      const before = tokens()?.size ?? 0;
      const response = await ctx.call(
        "POST",
        `${prefix}/pages/${PAGE}/generate_page_access_token?${query()}`,
        newPageToken.headers === undefined ? {} : { headers: newPageToken.headers },
      );
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body).toMatchObject({ success: true, page_access_token: expect.stringMatching(/^pat-/) });
      expect(tokens()?.has(body.page_access_token)).toBe(true);
      expect(tokens()?.size).toBe(before + 1);
      expectForwarding(ctx);
    }),
    brokenUpstream(
      id("Get"),
      "GET",
      "reset",
      { name: "Pancake", fake: (fakes) => fakes.pancake, match: "/api/v1/pages" },
      () => ({ path: `${prefix}/pages?${query()}` }),
    ),
    ...idempotencyCases(
      id("Post"),
      "POST",
      async (_ctx, variant) => ({
        path: `${prefix}/pages/${PAGE}/generate_page_access_token?${query()}`,
        init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
      }),
      (ctx) => ctx.fakes.pancakeStore.pageTokens.get(PAGE)?.size ?? 0,
    ),
    contractCase(id("Put"), "happy", "passes a PUT through and Pancake's 404 back", async (ctx) => {
      const body = JSON.stringify({ name: "x" });
      const response = await ctx.call("PUT", settings, {
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(404);
      expect(await ctx.json(response)).toEqual({ success: false, message: "Not found" });
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({ method: "PUT", bodySha256: sha256(body) });
      expectForwarding(ctx);
    }),
    contractCase(id("Patch"), "happy", "passes a PATCH through and Pancake's 404 back", async (ctx) => {
      const body = JSON.stringify({ tags: [1] });
      const response = await ctx.call("PATCH", settings, {
        headers: { "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(404);
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({ method: "PATCH", bodySha256: sha256(body) });
    }),
    ...idempotencyCases(
      id("Patch"),
      "PATCH",
      async (_ctx, variant) => ({
        path: settings,
        init: { headers: { "content-type": "application/json" }, body: JSON.stringify({ variant }) },
      }),
      (ctx) => ctx.fakes.pancake.requests.filter((r) => r.method === "PATCH").length,
    ),
    contractCase(id("Delete"), "happy", "passes a DELETE through and Pancake's 404 back", async (ctx) => {
      const response = await ctx.call("DELETE", `${prefix}/pages/${PAGE}/tags/1?${query()}`);
      expect(response.status).toBe(404);
      expect(ctx.fakes.pancake.requests.at(-1)).toMatchObject({
        method: "DELETE",
        path: `/api/v1/pages/${PAGE}/tags/1`,
      });
      expectForwarding(ctx);
    }),
    ...pathNegatives(family, prefix, query()),
  ];
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
  ...pancakeVnCases({
    family: "pancakeDirect",
    prefix: "/api/pancake-direct",
    query: direct,
    expectForwarding: expectDirectForwarding,
    badToken: { path: "/api/pancake-direct/pages", says: "a missing token" },
    newPageToken: { name: "posts through with the cookie and passes Pancake's answer back" },
  }),
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
  ...pancakeVnCases({
    family: "pancakeGeneric",
    prefix: "/api/pancake",
    query: generic,
    expectForwarding: expectGenericForwarding,
    badToken: { path: "/api/pancake/pages?access_token=expired.token.x", says: "an expired token" },
    newPageToken: {
      name: "generates a page access token as the inbox does (POST, JSON content type, no body)",
      headers: { accept: "application/json", "content-type": "application/json" },
    },
  }),
  chunkedBodyTooLarge("pancakeGenericPost", "POST", () => ({
    path: `/api/pancake/conversations/search?${generic()}`,
  })),
];

const official = `page_access_token=${encodeURIComponent(PAGE_TOKEN)}`;

/** The messages of a seeded conversation, through the gateway, with the page token. */
const messagesPath = (ctx: CaseContext) =>
  `/api/pancake-official/pages/${PAGE}/conversations/${conversationId(ctx)}/messages?${official}`;

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
  refusalPassedBack(
    "pancakeOfficialGet",
    "passes pages.fm's refusal of a bad page token back unchanged",
    `/api/pancake-official/pages/${PAGE}/conversations?page_access_token=wrong`,
    { success: false, error_code: 105, message: "Invalid page_access_token" },
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
      const response = await ctx.call("POST", messagesPath(ctx), {
        json: { action: "reply_inbox", message: text },
      });
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
      path: messagesPath(ctx),
      init: { json: { action: "reply_inbox", message: `Một lần thôi ${variant}` } },
    }),
    (ctx) => ctx.fakes.pagesFm.sent.length,
  ),
  contractCase("pancakeOfficialPut", "happy", "passes a PUT through and pages.fm's 405 back", async (ctx) => {
    const response = await ctx.call("PUT", messagesPath(ctx), { json: { message: "x" } });
    expect(response.status).toBe(405);
    expect(await ctx.json(response)).toEqual({ success: false, message: "Method not allowed" });
    expect(ctx.fakes.pagesFm.requests.at(-1)?.method).toBe("PUT");
  }),
  contractCase(
    "pancakeOfficialPatch",
    "happy",
    "passes a PATCH through and pages.fm's 405 back",
    async (ctx) => {
      const response = await ctx.call("PATCH", messagesPath(ctx), { json: { message: "x" } });
      expect(response.status).toBe(405);
      expect(ctx.fakes.pagesFm.requests.at(-1)?.method).toBe("PATCH");
    },
  ),
  ...idempotencyCases(
    "pancakeOfficialPatch",
    "PATCH",
    async (ctx, variant) => ({
      path: messagesPath(ctx),
      init: { json: { message: `x${variant}` } },
    }),
    (ctx) => ctx.fakes.pagesFm.requests.filter((r) => r.method === "PATCH").length,
  ),
  contractCase(
    "pancakeOfficialDelete",
    "happy",
    "passes a DELETE through and pages.fm's 405 back",
    async (ctx) => {
      const response = await ctx.call("DELETE", messagesPath(ctx));
      expect(response.status).toBe(405);
      expect(ctx.fakes.pagesFm.requests.at(-1)).toMatchObject({ method: "DELETE", bodyBytes: 0 });
    },
  ),
  ...pathNegatives("pancakeOfficial", "/api/pancake-official", official),
  chunkedBodyTooLarge("pancakeOfficialPost", "POST", (ctx) => ({
    path: messagesPath(ctx),
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
