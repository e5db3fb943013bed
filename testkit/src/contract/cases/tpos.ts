/** Contract cases of the `tpos` tag: the token grant and the REST and OData pass-throughs. */
import { createHash } from "node:crypto";
import type { OperationId } from "@n2store/generated";
import { expect } from "vitest";
import { exportBytes, FAKE_CREDENTIALS, XLSX_TYPE } from "../../fakes/index.js";
import { API_KEY } from "../../servers/index.js";
import type { CaseContext, ContractCase } from "../context.js";
import { upstreamMark, upstreamMoved } from "../context.js";
import {
  badIdempotencyKey,
  brokenUpstream,
  chunkedBodyTooLarge,
  contractCase,
  expectRefused,
  failureLimitCase,
  idempotencyCases,
  jsonBodyNegatives,
  rawBodyTooLarge,
  type UpstreamOf,
  untrustedContentCase,
} from "./shared.js";

const { username, password, clientId } = FAKE_CREDENTIALS.tpos;
const passwordGrant = { grant_type: "password", username, password, client_id: clientId };

/** TPOS, as the upstream of calls under `path`. */
const tposAt = (path: string): UpstreamOf => ({ name: "TPOS", fake: (fakes) => fakes.tpos, match: path });

/** A refresh token TPOS issued straight to us: a credential the gateway has never seen. */
async function freshRefreshToken(ctx: CaseContext): Promise<string> {
  const response = await fetch(`${ctx.fakes.tpos.url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(passwordGrant).toString(),
  });
  return ((await response.json()) as { refresh_token: string }).refresh_token;
}

/** A password the fake refuses, unique so that the gateway has to ask TPOS. */
const wrongGrant = (ctx: CaseContext) => ({ ...passwordGrant, password: ctx.unique("wrong-password") });

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Whose TPOS token this is: the fake signs the account's username into it (`unique_name`). */
const tokenUser = (accessToken: string): unknown =>
  JSON.parse(Buffer.from(accessToken.split(".")[1] ?? "", "base64url").toString("utf8")).unique_name;

/** `POST /api/token` as the pages send it for the shop's own account, plus our API key. */
const companyToken = (
  ctx: CaseContext,
  companyId: unknown,
  headers: Record<string, string> = { "x-api-key": API_KEY },
) => ctx.call("POST", "/api/token", { headers, json: { companyId } });

const companyCases: ContractCase[] = [
  contractCase(
    "createTposToken",
    "happy",
    "logs in with company 1's account for {companyId: 1} (token-manager.js) with an API key",
    async (ctx) => {
      const response = await companyToken(ctx, 1);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = await ctx.json(response);
      // What the pages read: access_token, expires_in, refresh_token.
      expect(body).toMatchObject({
        access_token: expect.stringMatching(/^eyJ/),
        expires_in: expect.any(Number),
        refresh_token: expect.any(String),
      });
      expect(tokenUser(body.access_token)).toBe(FAKE_CREDENTIALS.tpos.username);
    },
  ),
  contractCase(
    "createTposToken",
    "happy",
    'logs in with company 2\'s account for {companyId: "2"}, the key as Authorization: Bearer',
    async (ctx) => {
      const response = await companyToken(ctx, "2", { authorization: `Bearer ${API_KEY}` });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(tokenUser(body.access_token)).toBe(FAKE_CREDENTIALS.tposCompany2.username);
    },
  ),
  contractCase(
    "createTposToken",
    "happy",
    "shares one cache entry with the password grant of the same account",
    async (ctx) => {
      const first = await ctx.json(await companyToken(ctx, 1));
      const hits = ctx.fakes.tpos.tokenHits;
      const again = await ctx.call("POST", "/api/token", { form: passwordGrant });
      expect(again.headers.get("x-token-cache")).toBe("hit");
      expect((await ctx.json(again)).access_token).toBe(first.access_token);
      expect(ctx.fakes.tpos.tokenHits).toBe(hits);
    },
  ),
  ...(
    [
      ["without an API key", {}],
      ["with a wrong API key", { "x-api-key": `${API_KEY}-wrong` }],
    ] as const
  ).map(([what, headers]) =>
    contractCase(
      "createTposToken",
      "negative",
      `refuses {companyId} ${what} with 401 UNAUTHORIZED, reaching nothing`,
      async (ctx) => {
        const mark = upstreamMark(ctx.fakes);
        const error = await ctx.expectError(await companyToken(ctx, 1, headers), 401, "UNAUTHORIZED");
        expect(JSON.stringify(error)).not.toContain(FAKE_CREDENTIALS.tpos.password);
        expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
      },
    ),
  ),
  failureLimitCase("createTposToken", "POST", async (_ctx, key) => ({
    path: "/api/token",
    init: { headers: { "x-api-key": key ?? `${API_KEY}-guess` }, json: { companyId: 1 } },
  })),
  failureLimitCase(
    "createTposToken",
    "POST",
    async (ctx, key) => ({
      path: "/api/token",
      // Guesses at made-up usernames, so the seeded user's own count (per username) stays clean.
      init: {
        form: key === undefined ? { ...passwordGrant, username: ctx.unique("guess-user") } : passwordGrant,
      },
    }),
    401,
    "TPOS_TOKEN_REJECTED",
  ),
  contractCase(
    "createTposToken",
    "negative",
    "answers 503 TPOS_ACCOUNT_NOT_CONFIGURED for a company without an account",
    async (ctx) => {
      const mark = upstreamMark(ctx.fakes);
      const error = await ctx.expectError(await companyToken(ctx, 3), 503, "TPOS_ACCOUNT_NOT_CONFIGURED");
      expect(error.message).toContain("company 3");
      expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
    },
  ),
  ...([0, "abc", 1.5, [1]] as const).map((companyId) =>
    contractCase(
      "createTposToken",
      "negative",
      `refuses companyId ${JSON.stringify(companyId)} with 400 VALIDATION_FAILED naming it`,
      async (ctx) => {
        const mark = upstreamMark(ctx.fakes);
        const error = await ctx.expectError(await companyToken(ctx, companyId), 400, "VALIDATION_FAILED");
        expect(error.details?.map((d) => d.path)).toContainEqual(["body", "companyId"]);
        expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
      },
    ),
  ),
];

const tokenCases: ContractCase[] = [
  ...companyCases,
  contractCase(
    "createTposToken",
    "happy",
    "grants a TPOS token for form-encoded credentials",
    async (ctx) => {
      const response = await ctx.call("POST", "/api/token", { form: passwordGrant });
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = await ctx.json(response);
      expect(body).toMatchObject({ token_type: "bearer", access_token: expect.stringMatching(/^eyJ/) });
      expect(body.expires_in).toBeGreaterThan(1_000_000);
    },
  ),
  contractCase("createTposToken", "happy", "grants a TPOS token for JSON credentials", async (ctx) => {
    const response = await ctx.call("POST", "/api/token", { json: passwordGrant });
    expect(response.status).toBe(200);
    expect((await ctx.json(response)).access_token).toMatch(/^eyJ/);
  }),
  contractCase(
    "createTposToken",
    "happy",
    "answers a repeat from the per-credential cache without calling TPOS",
    async (ctx) => {
      const first = await ctx.json(await ctx.call("POST", "/api/token", { form: passwordGrant }));
      const hits = ctx.fakes.tpos.tokenHits;
      const again = await ctx.call("POST", "/api/token", { form: passwordGrant });
      expect(again.headers.get("x-token-cache")).toBe("hit");
      const second = await ctx.json(again);
      expect(second.access_token).toBe(first.access_token);
      expect(second.expires_in).toBeLessThanOrEqual(first.expires_in);
      expect(ctx.fakes.tpos.tokenHits).toBe(hits);
    },
  ),
  contractCase(
    "createTposToken",
    "happy",
    "makes one TPOS call for concurrent requests with a new refresh token",
    async (ctx) => {
      const refresh = await freshRefreshToken(ctx);
      const hits = ctx.fakes.tpos.tokenHits;
      const grant = { grant_type: "refresh_token", refresh_token: refresh, client_id: clientId };
      const responses = await Promise.all(
        Array.from({ length: 5 }, () => ctx.call("POST", "/api/token", { form: grant })),
      );
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      const tokens = new Set(await Promise.all(responses.map(async (r) => (await ctx.json(r)).access_token)));
      expect(tokens.size).toBe(1);
      expect(ctx.fakes.tpos.tokenHits - hits).toBe(1);
    },
  ),
  contractCase(
    "createTposToken",
    "negative",
    "passes TPOS's refusal on as 401 TPOS_TOKEN_REJECTED, never cached, never echoing the password",
    async (ctx) => {
      const grant = wrongGrant(ctx);
      const hits = ctx.fakes.tpos.tokenHits;
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await ctx.call("POST", "/api/token", { form: grant });
        const error = await ctx.expectError(response, 401, "TPOS_TOKEN_REJECTED");
        expect(error.details).toEqual([
          { message: "The user name or password is incorrect.", code: "invalid_grant" },
        ]);
        expect(JSON.stringify(error)).not.toContain(grant.password);
      }
      expect(ctx.fakes.tpos.tokenHits - hits, "a refusal is not cached").toBe(2);
    },
  ),
  contractCase(
    "createTposToken",
    "negative",
    "refuses a grant type it does not know with 400 VALIDATION_FAILED",
    async (ctx) => {
      await expectRefused(
        ctx,
        "POST",
        { path: "/api/token", init: { form: { grant_type: "client_credentials", client_id: clientId } } },
        400,
        "VALIDATION_FAILED",
        (c) => c.fakes.tpos.tokenHits,
      );
    },
  ),
  contractCase(
    "createTposToken",
    "negative",
    "refuses a password grant without a username (form) with 400 VALIDATION_FAILED",
    async (ctx) => {
      await expectRefused(
        ctx,
        "POST",
        { path: "/api/token", init: { form: { grant_type: "password", password } } },
        400,
        "VALIDATION_FAILED",
        (c) => c.fakes.tpos.tokenHits,
      );
    },
  ),
  ...jsonBodyNegatives({
    operationId: "createTposToken",
    method: "POST",
    request: async () => ({ path: "/api/token" }),
    valid: () => ({ ...passwordGrant }),
    required: "username",
    wrongType: ["username", 42],
    closed: true,
    untouched: (ctx) => ctx.fakes.tpos.tokenHits,
  }),
  ...(["reset", "garbage"] as const).map((how) =>
    brokenUpstream("createTposToken", "POST", how, tposAt("/token"), (ctx) => ({
      path: "/api/token",
      init: { form: wrongGrant(ctx) },
    })),
  ),
  contractCase(
    "createTposToken",
    "negative",
    "answers 502 UPSTREAM_ERROR when TPOS fails with 500",
    async (ctx) => {
      ctx.fakes.tpos.fault.set(
        { mode: "status", status: 500, body: { Message: "boom" } },
        { times: 1, match: "/token" },
      );
      await ctx.expectError(
        await ctx.call("POST", "/api/token", { form: wrongGrant(ctx) }),
        502,
        "UPSTREAM_ERROR",
      );
    },
  ),
];

type Family = "tposRest" | "tposOData" | "tposApi";
const METHODS = ["Get", "Post", "Put", "Patch", "Delete"] as const;

function op(family: Family, method: (typeof METHODS)[number]): OperationId {
  return `${family}${method}` as OperationId;
}

/** Authorization for the fake TPOS, got through the target's own token endpoint. */
async function bearer(ctx: CaseContext): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await ctx.tposToken()}` };
}

/** The headers and path checks every TPOS pass-through makes on what TPOS received. */
function expectTposHeaders(ctx: CaseContext, token: string): void {
  const seen = ctx.fakes.tpos.requests.at(-1);
  expect(seen?.headers.authorization).toBe(token);
  expect(seen?.headers.cookie, "the caller's cookies are not forwarded").toBeUndefined();
  expect(seen?.headers["x-caller-secret"], "other caller headers are not forwarded").toBeUndefined();
  expect(seen?.headers.origin).toBe(new URL(ctx.fakes.tpos.url).origin);
  expect(seen?.headers.referer).toBe(`${new URL(ctx.fakes.tpos.url).origin}/`);
  expect(seen?.headers.tposappversion).toMatch(/^\d+\.\d+/);
}

const callerNoise = { cookie: "session=caller-secret", "x-caller-secret": "1" };

/** Cases both pass-through families share: path refusals and the body limits. */
function familyNegatives(family: Family, prefix: string, samplePath: string): ContractCase[] {
  const cases: ContractCase[] = [];
  for (const method of METHODS) {
    const id = op(family, method);
    const verb = method.toUpperCase();
    cases.push(
      contractCase(
        id,
        "negative",
        "refuses an empty path segment with 400 VALIDATION_FAILED, reaching nothing",
        async (ctx) => {
          const mark = upstreamMark(ctx.fakes);
          const error = await ctx.expectError(
            await ctx.call(verb, `${prefix}/${samplePath}//x`),
            400,
            "VALIDATION_FAILED",
          );
          expect(error.details?.map((d) => d.path)).toContainEqual(["path", "path"]);
          expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
        },
      ),
      ...(
        [
          ["an encoded '..' segment", `${samplePath}%2F..%2F..%2Ftoken`],
          ["a path that is not valid percent-encoding", `${samplePath}/%E0%A4%A`],
          ["a path over 2048 characters", "p".repeat(2049)],
          ["a ';' path parameter (Tomcat's '..;/')", `${samplePath}/..;/x`],
          ["an encoded backslash (IIS's separator)", `${samplePath}%5C..%5Cx`],
        ] as const
      ).map(([what, path]) =>
        contractCase(
          id,
          "negative",
          `refuses ${what} with 400 VALIDATION_FAILED, reaching nothing`,
          async (ctx) => {
            const mark = upstreamMark(ctx.fakes);
            await ctx.expectError(await ctx.call(verb, `${prefix}/${path}`), 400, "VALIDATION_FAILED");
            expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
          },
        ),
      ),
    );
    if (method === "Post" || method === "Put" || method === "Patch") {
      cases.push(rawBodyTooLarge(id, verb, () => ({ path: `${prefix}/${samplePath}` })));
    }
    if (method === "Post" || method === "Patch") {
      cases.push(badIdempotencyKey(id, verb, () => ({ path: `${prefix}/${samplePath}` })));
    }
  }
  return cases;
}

const restCases: ContractCase[] = [
  contractCase(
    "tposRestGet",
    "happy",
    "passes a GET through with the caller's token and TPOS's headers only",
    async (ctx) => {
      const headers = await bearer(ctx);
      const response = await ctx.call("GET", "/api/rest/v2.0/chatomni/info/1_24000000000000101", {
        headers: { ...headers, ...callerNoise },
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({ Id: "1_24000000000000101", CRMTeamId: 1 });
      expect(ctx.fakes.tpos.requests.at(-1)?.path).toBe("/rest/v2.0/chatomni/info/1_24000000000000101");
      expectTposHeaders(ctx, headers.authorization ?? "");
    },
  ),
  contractCase("tposRestGet", "happy", "passes the query on byte for byte", async (ctx) => {
    const headers = await bearer(ctx);
    const response = await ctx.call(
      "GET",
      "/api/rest/v2.0/facebookpost/270136663390370_1/commentsbyuser?userId=24000000000000101&x=%20two&y=a%2Bb",
      { headers },
    );
    expect(response.status).toBe(200);
    expect((await ctx.json(response)).UserId).toBe("24000000000000101");
    const seen = ctx.fakes.tpos.requests.at(-1);
    expect(seen?.query.toString()).toBe(
      new URLSearchParams("userId=24000000000000101&x=%20two&y=a%2Bb").toString(),
    );
    expect(seen?.query.get("y")).toBe("a+b");
  }),
  contractCase("tposRestGet", "happy", "passes TPOS's own 401 and body back unchanged", async (ctx) => {
    const response = await ctx.call("GET", "/api/rest/v2.0/chatomni/info/1_2", {
      headers: { authorization: "Bearer not-a-tpos-token" },
    });
    expect(response.status).toBe(401);
    expect(await ctx.json(response)).toEqual({ Message: "Authorization has been denied for this request." });
  }),
  contractCase(
    "tposRestGet",
    "happy",
    "passes TPOS's own 404 for an unknown REST path back unchanged",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/rest/v2.0/no/such/thing", { headers: await bearer(ctx) });
      expect(response.status).toBe(404);
      expect((await ctx.json(response)).error.code).toBe("404");
    },
  ),
  brokenUpstream("tposRestGet", "GET", "reset", tposAt("/rest/"), async (ctx) => ({
    path: "/api/rest/v2.0/chatomni/info/1_2",
    init: { headers: await bearer(ctx) },
  })),

  contractCase(
    "tposRestPost",
    "happy",
    "streams the body through unchanged, with its content type",
    async (ctx) => {
      const headers = await bearer(ctx);
      const before = ctx.fakes.tpos.restPosts.length;
      const body = JSON.stringify({ Ids: [101, 102], Note: "Đơn gấp" });
      const response = await ctx.call("POST", "/api/rest/v2.0/saleonline/confirm", {
        headers: { ...headers, ...callerNoise, "content-type": "application/json;charset=UTF-8" },
        body,
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({
        success: true,
        received: { Ids: [101, 102], Note: "Đơn gấp" },
      });
      expect(ctx.fakes.tpos.restPosts.length).toBe(before + 1);
      const seen = ctx.fakes.tpos.restPosts.at(-1);
      expect(seen?.bodySha256).toBe(sha256(body));
      expect(seen?.headers["content-type"]).toBe("application/json;charset=UTF-8");
      expectTposHeaders(ctx, headers.authorization ?? "");
    },
  ),
  contractCase(
    "tposRestPost",
    "happy",
    "passes a body that is not valid JSON through untouched",
    async (ctx) => {
      const headers = await bearer(ctx);
      const body = '{"Ids": [1, 2';
      const response = await ctx.call("POST", "/api/rest/v2.0/raw", {
        headers: { ...headers, "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(200);
      expect((await ctx.json(response)).received).toBe(body);
      expect(ctx.fakes.tpos.restPosts.at(-1)?.bodySha256).toBe(sha256(body));
    },
  ),
  contractCase("tposRestPost", "happy", "passes a POST without a body through", async (ctx) => {
    const response = await ctx.call("POST", "/api/rest/v2.0/ping", { headers: await bearer(ctx) });
    expect(response.status).toBe(200);
    expect(ctx.fakes.tpos.restPosts.at(-1)?.bodyBytes).toBe(0);
  }),
  ...idempotencyCases(
    "tposRestPost",
    "POST",
    async (ctx, variant) => ({
      path: "/api/rest/v2.0/saleonline/confirm",
      init: {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ Ids: [variant] }),
      },
    }),
    (ctx) => ctx.fakes.tpos.restPosts.length,
  ),

  contractCase(
    "tposRestPut",
    "happy",
    "passes a PUT with its body through and TPOS's 404 back",
    async (ctx) => {
      const body = JSON.stringify({ Name: "x" });
      const response = await ctx.call("PUT", "/api/rest/v2.0/partner/1", {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(404);
      expect((await ctx.json(response)).error.details).toBe("NotFound");
      const seen = ctx.fakes.tpos.requests.at(-1);
      expect(seen).toMatchObject({ method: "PUT", path: "/rest/v2.0/partner/1", bodySha256: sha256(body) });
    },
  ),
  contractCase(
    "tposRestPatch",
    "happy",
    "passes a PATCH with its body through and TPOS's 404 back",
    async (ctx) => {
      const body = JSON.stringify({ Phone: "0901234567" });
      const response = await ctx.call("PATCH", "/api/rest/v2.0/partner/1", {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body,
      });
      expect(response.status).toBe(404);
      expect(ctx.fakes.tpos.requests.at(-1)).toMatchObject({ method: "PATCH", bodySha256: sha256(body) });
    },
  ),
  ...idempotencyCases(
    "tposRestPatch",
    "PATCH",
    async (ctx, variant) => ({
      path: "/api/rest/v2.0/partner/1",
      init: {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ v: variant }),
      },
    }),
    (ctx) => ctx.fakes.tpos.requests.filter((r) => r.method === "PATCH").length,
  ),
  contractCase("tposRestDelete", "happy", "passes a DELETE through without a body", async (ctx) => {
    const response = await ctx.call("DELETE", "/api/rest/v2.0/partner/1", { headers: await bearer(ctx) });
    expect(response.status).toBe(404);
    expect(ctx.fakes.tpos.requests.at(-1)).toMatchObject({
      method: "DELETE",
      path: "/rest/v2.0/partner/1",
      bodyBytes: 0,
    });
  }),
  ...familyNegatives("tposRest", "/api/rest", "v2.0/partner"),
  chunkedBodyTooLarge("tposRestPost", "POST", async (ctx) => ({
    path: "/api/rest/v2.0/saleonline/confirm",
    init: { headers: await bearer(ctx) },
  })),
];

/** A Partner row of the fake TPOS that only this case uses. */
function seedPartner(ctx: CaseContext): number {
  const rows = ctx.fakes.tpos.rows("Partner");
  const id = Math.max(1000, ...rows.map((row) => Number(row.Id) || 0)) + 1;
  rows.push({ Id: id, Name: "Khách hợp đồng", Phone: "0900000000", Active: true });
  return id;
}

const odataCases: ContractCase[] = [
  contractCase(
    "tposODataGet",
    "happy",
    "passes OData query options on and TPOS's answer back",
    async (ctx) => {
      const headers = await bearer(ctx);
      const response = await ctx.call(
        "GET",
        "/api/odata/Product?$top=2&$count=true&$orderby=Id&$select=Id,Name",
        {
          headers: { ...headers, ...callerNoise },
        },
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const body = await ctx.json(response);
      expect(body["@odata.count"]).toBe(3);
      expect(body.value).toEqual([
        { Id: 101, Name: "Áo thun trắng" },
        { Id: 102, Name: "Quần jean" },
      ]);
      expect(ctx.fakes.tpos.requests.at(-1)?.query.get("$select")).toBe("Id,Name");
      expectTposHeaders(ctx, headers.authorization ?? "");
    },
  ),
  contractCase(
    "tposODataGet",
    "happy",
    "keeps OData's key syntax and $metadata-style segments in the path",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/odata/FastSaleOrder(5001)/OrderLines", {
        headers: await bearer(ctx),
      });
      expect(response.status).toBe(200);
      expect((await ctx.json(response)).value).toHaveLength(1);
      expect(ctx.fakes.tpos.requests.at(-1)?.path).toBe("/odata/FastSaleOrder(5001)/OrderLines");
    },
  ),
  contractCase(
    "tposODataGet",
    "happy",
    "passes TPOS's own 400 for a bad $filter back unchanged",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/odata/Product?$filter=Name%20eq", {
        headers: await bearer(ctx),
      });
      expect(response.status).toBe(400);
      expect((await ctx.json(response)).error.details).toBe("ODataException");
    },
  ),
  contractCase(
    "tposODataGet",
    "negative",
    "answers 504 UPSTREAM_TIMEOUT when TPOS does not answer in time",
    async (ctx) => {
      const headers = await bearer(ctx);
      ctx.fakes.tpos.fault.set({ mode: "slow", ms: 8000 }, { times: 1, match: "/odata/Product" });
      const started = Date.now();
      await ctx.expectError(
        await ctx.call("GET", "/api/odata/Product", { headers }),
        504,
        "UPSTREAM_TIMEOUT",
      );
      expect(Date.now() - started).toBeLessThan(7500);
    },
  ),
  brokenUpstream("tposODataGet", "GET", "reset", tposAt("/odata/"), async (ctx) => ({
    path: "/api/odata/Product",
    init: { headers: await bearer(ctx) },
  })),

  contractCase("tposODataPost", "happy", "creates through TPOS and passes its 201 back", async (ctx) => {
    const name = ctx.unique("Khách");
    const response = await ctx.call("POST", "/api/odata/Partner", {
      headers: { ...(await bearer(ctx)), "content-type": "application/json" },
      body: JSON.stringify({ Name: name, Phone: "0912000111" }),
    });
    expect(response.status).toBe(201);
    const created = await ctx.json(response);
    expect(created).toMatchObject({ Name: name, Id: expect.any(Number) });
    expect(ctx.fakes.tpos.rows("Partner").some((row) => row.Id === created.Id && row.Name === name)).toBe(
      true,
    );
  }),
  ...idempotencyCases(
    "tposODataPost",
    "POST",
    async (ctx, variant) => ({
      path: "/api/odata/Partner",
      init: {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ Name: `idem-${variant}` }),
      },
    }),
    (ctx) => ctx.fakes.tpos.rows("Partner").length,
  ),
  contractCase(
    "tposODataPut",
    "happy",
    "replaces through TPOS and passes its 204 back without a body",
    async (ctx) => {
      const id = seedPartner(ctx);
      const response = await ctx.call("PUT", `/api/odata/Partner(${id})`, {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ Name: "Đã đổi tên" }),
      });
      expect(response.status).toBe(204);
      expect(await response.text()).toBe("");
      expect(ctx.fakes.tpos.rows("Partner").find((row) => row.Id === id)?.Name).toBe("Đã đổi tên");
    },
  ),
  contractCase("tposODataPatch", "happy", "updates through TPOS and passes its 204 back", async (ctx) => {
    const id = seedPartner(ctx);
    const response = await ctx.call("PATCH", `/api/odata/Partner(${id})`, {
      headers: { ...(await bearer(ctx)), "content-type": "application/json" },
      body: JSON.stringify({ Phone: "0987000111" }),
    });
    expect(response.status).toBe(204);
    expect(ctx.fakes.tpos.rows("Partner").find((row) => row.Id === id)?.Phone).toBe("0987000111");
  }),
  ...idempotencyCases(
    "tposODataPatch",
    "PATCH",
    async (ctx, variant) => ({
      path: `/api/odata/Partner(${seedPartnerOnce(ctx)})`,
      init: {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ Note: `v${variant}` }),
      },
    }),
    (ctx) =>
      ctx.fakes.tpos.requests.filter((r) => r.method === "PATCH" && r.path.startsWith("/odata/")).length,
  ),
  contractCase(
    "tposODataDelete",
    "happy",
    "deletes through TPOS; a second delete gets TPOS's 404",
    async (ctx) => {
      const id = seedPartner(ctx);
      const headers = await bearer(ctx);
      const response = await ctx.call("DELETE", `/api/odata/Partner(${id})`, { headers });
      expect(response.status).toBe(204);
      expect(ctx.fakes.tpos.rows("Partner").some((row) => row.Id === id)).toBe(false);
      const again = await ctx.call("DELETE", `/api/odata/Partner(${id})`, { headers });
      expect(again.status).toBe(404);
    },
  ),
  ...familyNegatives("tposOData", "/api/odata", "Partner"),
  chunkedBodyTooLarge("tposODataPut", "PUT", async (ctx) => ({
    path: `/api/odata/Partner(${seedPartner(ctx)})`,
    init: { headers: await bearer(ctx) },
  })),
];

const seeded = new WeakMap<CaseContext, number>();
/** One Partner row per case context (the idempotency cases call the request factory twice). */
function seedPartnerOnce(ctx: CaseContext): number {
  let id = seeded.get(ctx);
  if (id === undefined) {
    id = seedPartner(ctx);
    seeded.set(ctx, id);
  }
  return id;
}

/** Bill printing as bill-service.js asks for it, with the page's own Accept. */
const PRINT_ACCEPT = "application/json, text/javascript, */*; q=0.01";

const apiCases: ContractCase[] = [
  contractCase(
    "tposApiGet",
    "happy",
    "prints a bill through /api/fastsaleorder/print1?ids= (bill-service.js) and passes TPOS's JSON back",
    async (ctx) => {
      const headers = await bearer(ctx);
      const response = await ctx.call("GET", "/api/fastsaleorder/print1?ids=5001", {
        headers: { ...headers, accept: PRINT_ACCEPT, ...callerNoise },
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body.html).toContain("INV/2026/0001");
      const seen = ctx.fakes.tpos.requests.at(-1);
      expect(seen?.path).toBe("/fastsaleorder/print1");
      expect(seen?.query.get("ids")).toBe("5001");
      expect(seen?.headers.accept).toBe(PRINT_ACCEPT);
      expectTposHeaders(ctx, headers.authorization ?? "");
    },
  ),
  contractCase(
    "tposApiGet",
    "happy",
    "sends a /api path no operation has to TPOS and passes TPOS's own 404 back",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/no-such-operation", { headers: await bearer(ctx) });
      expect(response.status).toBe(404);
      expect((await ctx.json(response)).error.message).toBe("The requested API endpoint does not exist.");
      expect(ctx.fakes.tpos.requests.at(-1)?.path).toBe("/no-such-operation");
    },
  ),
  contractCase(
    "tposApiGet",
    "happy",
    "passes TPOS's own 401 back to a caller without a token",
    async (ctx) => {
      const response = await ctx.call("GET", "/api/fastsaleorder/print1?ids=5001");
      expect(response.status).toBe(401);
      expect(await ctx.json(response)).toEqual({
        Message: "Authorization has been denied for this request.",
      });
    },
  ),
  ...(
    [
      ["GET", "/api/token"],
      ["DELETE", "/api/customers"],
      ["GET", "/api/sepay/webhook"],
      ["GET", "/api/Realtime/start"],
    ] as const
  ).map(([method, path]) =>
    contractCase(
      method === "GET" ? "tposApiGet" : "tposApiDelete",
      "negative",
      `answers ${method} ${path} (a path of the gateway's own) with 404 ROUTE_NOT_FOUND, never TPOS`,
      async (ctx) => {
        const mark = upstreamMark(ctx.fakes);
        const error = await ctx.expectError(await ctx.call(method, path), 404, "ROUTE_NOT_FOUND");
        expect(error.message).toBe(`No operation answers ${method} ${path}.`);
        expect(upstreamMoved(ctx.fakes, mark)).toBe(false);
      },
    ),
  ),
  brokenUpstream("tposApiGet", "GET", "reset", tposAt("/fastsaleorder/"), async (ctx) => ({
    path: "/api/fastsaleorder/print1?ids=5001",
    init: { headers: await bearer(ctx) },
  })),
  ...(
    [
      [
        "/api/FastSaleOrder/ExportFile?TagIds=",
        { data: JSON.stringify({ Filter: { State: "open" } }), ids: [] },
      ],
      ["/api/SaleOnline_Order/ExportFile", { data: "{}", campaignId: "1234", postId: "", ids: "" }],
      ["/api/Product/ExportProductV2?Active=true", { model: { Active: "true" } }],
    ] as const
  ).map(([path, filter]) =>
    contractCase(
      "tposApiPost",
      "happy",
      `streams the xlsx of ${path.split("?")[0]} back byte for byte with its attachment name`,
      async (ctx) => {
        const headers = await bearer(ctx);
        const body = JSON.stringify(filter);
        const response = await ctx.call("POST", path, {
          headers: { ...headers, accept: "*/*", "content-type": "application/json" },
          body,
        });
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toBe(XLSX_TYPE);
        expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename=.+\.xlsx$/);
        const bytes = Buffer.from(await response.arrayBuffer());
        const upstreamPath = path.slice("/api".length).split("?")[0] ?? "";
        expect(bytes.equals(exportBytes(upstreamPath)), "the xlsx bytes arrive unchanged").toBe(true);
        const seen = ctx.fakes.tpos.exports.at(-1);
        expect(seen?.bodySha256).toBe(sha256(body));
        expect(seen?.headers["content-type"]).toBe("application/json");
        expectTposHeaders(ctx, headers.authorization ?? "");
      },
    ),
  ),
  ...idempotencyCases(
    "tposApiPost",
    "POST",
    async (ctx, variant) => ({
      path: "/api/FastSaleOrder/ExportFile?TagIds=",
      init: {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ data: "{}", ids: [variant] }),
      },
    }),
    (ctx) => ctx.fakes.tpos.exports.length,
  ),
  ...(["Put", "Patch", "Delete"] as const).map((method) =>
    contractCase(
      op("tposApi", method),
      "happy",
      `passes a ${method.toUpperCase()} through with its body and token, and TPOS's answer back`,
      async (ctx) => {
        const headers = await bearer(ctx);
        const verb = method.toUpperCase();
        const body = verb === "DELETE" ? undefined : JSON.stringify({ Id: 5001, Note: "sửa" });
        const response = await ctx.call(verb, "/api/FastSaleOrder/UpdateNote", {
          headers: { ...headers, "content-type": "application/json" },
          ...(body === undefined ? {} : { body }),
        });
        expect(response.status).toBe(404);
        const seen = ctx.fakes.tpos.requests.at(-1);
        expect(seen).toMatchObject({ method: verb, path: "/FastSaleOrder/UpdateNote" });
        if (body !== undefined) {
          expect(seen?.bodySha256).toBe(sha256(body));
        }
        expectTposHeaders(ctx, headers.authorization ?? "");
      },
    ),
  ),
  ...idempotencyCases(
    "tposApiPatch",
    "PATCH",
    async (ctx, variant) => ({
      path: "/api/FastSaleOrder/UpdateNote",
      init: {
        headers: { ...(await bearer(ctx)), "content-type": "application/json" },
        body: JSON.stringify({ variant }),
      },
    }),
    (ctx) => ctx.fakes.tpos.requests.filter((r) => r.method === "PATCH").length,
  ),
  ...familyNegatives("tposApi", "/api", "fastsaleorder/print1"),
  untrustedContentCase("tposApiGet", "GET", async (ctx) => ({
    path: "/api/fastsaleorder/print1?ids=5001",
    init: { headers: await bearer(ctx) },
  })),
  untrustedContentCase("tposRestGet", "GET", async (ctx) => ({
    path: "/api/rest/v2.0/no/such/thing",
    init: { headers: await bearer(ctx) },
  })),
  untrustedContentCase("tposODataGet", "GET", async (ctx) => ({
    path: "/api/odata/Partner?$top=1",
    init: { headers: await bearer(ctx) },
  })),
];

export const tposCases: ContractCase[] = [...tokenCases, ...restCases, ...odataCases, ...apiCases];
