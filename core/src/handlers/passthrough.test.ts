import type { OperationInput, RawBody } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import type { Env } from "../config.js";
import type { SharedDeps } from "../deps.js";
import { UpstreamFailure } from "../ports/upstream.js";
import { testDeps as sharedTestDeps } from "../testing/deps.js";
import { caught } from "../testing/errors.js";
import { bodyText, type FakeReply, FakeUpstream, rawBody } from "../testing/fake-upstream.js";
import {
  encodeCatchAll,
  OWN_API_SEGMENTS,
  pancakeDirect,
  pancakeGeneric,
  pancakeOfficial,
  pick,
  targetUrl,
  tposApi,
  tposOData,
  tposRest,
  withoutParams,
} from "./passthrough.js";

function testDeps(upstream: FakeUpstream, env: Env = {}): SharedDeps {
  return sharedTestDeps({ upstream, env, runtime: "node", now: Date.UTC(2026, 10, 25) });
}

/**
 * Runs a handler (`call`, given the dependencies) against an upstream answering `url` with `reply`,
 * asserts it sent its request there, and returns that request.
 */
async function sentTo(url: string, reply: FakeReply, call: (deps: SharedDeps) => Promise<unknown>) {
  const upstream = new FakeUpstream().on(url, reply);
  await call(testDeps(upstream));
  expect(upstream.requests[0]?.url).toBe(url);
  return upstream.requests[0];
}

/** A pass-through input as the pipeline hands it over (query already in rawQuery). */
function input<
  Op extends
    | "tposRestGet"
    | "tposODataGet"
    | "tposApiGet"
    | "pancakeDirectGet"
    | "pancakeOfficialGet"
    | "pancakeGenericGet",
>(path: string, rawQuery = "", rawHeaders: Record<string, string> = {}): OperationInput<Op> {
  return {
    path: { path },
    query: {},
    headers: {},
    body: undefined,
    rawQuery,
    rawHeaders,
  } as OperationInput<Op>;
}

function postInput<Op extends "tposRestPost" | "tposApiPost" | "pancakeDirectPost" | "pancakeGenericPost">(
  path: string,
  body: RawBody | null,
  rawQuery = "",
  rawHeaders: Record<string, string> = {},
): OperationInput<Op> {
  return { path: { path }, query: {}, headers: {}, body, rawQuery, rawHeaders } as OperationInput<Op>;
}

describe("encodeCatchAll", () => {
  it.each([
    "SaleOnline_Order(c2060000-5d17)",
    "$metadata",
    "SaleOnline_Order/ODataService.GetView",
    "Partner(1)/ODataService.GetDetail",
    "v2.0/notification/not-read",
    "a-b_c.d~e!f$g&h'i(j)k*l+m,n=o:p@q",
  ])("keeps the path %s as written", (path) => {
    expect(encodeCatchAll(path)).toBe(path);
  });

  it.each([
    ["a b", "a%20b"],
    ["Việt Nam", "Vi%E1%BB%87t%20Nam"],
    ["what?x=1", "what%3Fx=1"],
    ["frag#ment", "frag%23ment"],
    ["100%", "100%25"],
    ["%2e%2e", "%252e%252e"],
    ['quote"<>', "quote%22%3C%3E"],
    ["emoji😀", "emoji%F0%9F%98%80"],
  ])("escapes %j as %s", (path, encoded) => {
    expect(encodeCatchAll(path)).toBe(encoded);
  });

  it("escapes each segment and keeps the slashes between them", () => {
    expect(encodeCatchAll("pages/12 3/conversations")).toBe("pages/12%203/conversations");
  });

  it.each(["..", ".", "a/../b", "a/./b", "../etc/passwd", "a//b", "/a", "a/", ""])(
    "refuses %j with VALIDATION_FAILED naming path",
    (path) => {
      const error = caught(() => encodeCatchAll(path));
      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.details).toEqual([
        { path: ["path", "path"], message: "must not contain empty, '.' or '..' segments" },
      ]);
      expect(error.nothingSent).toBe(true);
    },
  );

  it.each(["..;/admin", "a;jsessionid=1/b", "a\\..\\b", "x/back\\slash"])(
    "refuses %j (a path parameter or a backslash) with VALIDATION_FAILED",
    (path) => {
      const error = caught(() => encodeCatchAll(path));
      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.details).toEqual([{ path: ["path", "path"], message: "must not contain ';' or '\\'" }]);
    },
  );

  it("keeps segments that only look like dots", () => {
    expect(encodeCatchAll("...")).toBe("...");
    expect(encodeCatchAll("..a/.b")).toBe("..a/.b");
  });
});

describe("withoutParams", () => {
  const own = new Set(["jwt", "page_id"]);

  it("removes the named parameters and keeps every other pair byte for byte", () => {
    expect(withoutParams("jwt=abc&page_id=1&q=a%20b&name=c+d&x=%E1%BB%87&q=2", own)).toBe(
      "q=a%20b&name=c+d&x=%E1%BB%87&q=2",
    );
  });

  it("removes every occurrence of a repeated name, and names without a value", () => {
    expect(withoutParams("jwt=a&jwt=b&keep=1&page_id", own)).toBe("keep=1");
  });

  it("recognises a percent-encoded name", () => {
    expect(withoutParams("j%77t=abc&keep=1", own)).toBe("keep=1");
  });

  it("keeps pairs with malformed escapes, and empty pairs", () => {
    expect(withoutParams("%E0%A4%A=1&&jwt=x&$top=20", own)).toBe("%E0%A4%A=1&&$top=20");
  });

  it("keeps a parameter whose name only starts like a removed one", () => {
    expect(withoutParams("jwt_extra=1&page_ids=2", own)).toBe("jwt_extra=1&page_ids=2");
  });

  it("returns the query unchanged when there is nothing to remove", () => {
    expect(withoutParams("", own)).toBe("");
    expect(withoutParams("a=1", new Set())).toBe("a=1");
  });
});

describe("targetUrl", () => {
  const base = new URL("https://tomato.tpos.vn");

  it("joins the base, the prefix, the encoded path and the raw query", () => {
    expect(
      targetUrl(base, "/odata/", "SaleOnline_Order/ODataService.GetView", "$top=20&$count=true").href,
    ).toBe("https://tomato.tpos.vn/odata/SaleOnline_Order/ODataService.GetView?$top=20&$count=true");
  });

  it("keeps the base URL's own path", () => {
    expect(targetUrl(new URL("http://127.0.0.1:4100/tpos/"), "/rest/", "v2.0/x", "").href).toBe(
      "http://127.0.0.1:4100/tpos/rest/v2.0/x",
    );
  });

  it("keeps an OData query's escapes as given", () => {
    const query = "$filter=(DateCreated%20ge%202026-04-13T17:00:00.000Z)&$orderby=DateCreated+desc";
    expect(targetUrl(base, "/odata/", "SaleOnline_Order", query).search).toBe(`?${query}`);
  });

  it.each(["../admin", "a/../../admin", "//evil.example/x", "."])(
    "never leaves the prefix for %j",
    (path) => {
      expect(caught(() => targetUrl(base, "/rest/", path, "")).code).toBe("VALIDATION_FAILED");
    },
  );

  it.each(["%2e%2e/admin", "..%2fadmin", "@evil.example", "x:y@evil.example"])(
    "stays under the prefix and on the base origin for %j",
    (path) => {
      const url = targetUrl(base, "/rest/", path, "");
      expect(url.origin).toBe("https://tomato.tpos.vn");
      expect(url.pathname.startsWith("/rest/")).toBe(true);
    },
  );
});

describe("pick", () => {
  it("copies the named headers that are present and not empty", () => {
    expect(pick({ a: "1", b: "", c: "3" }, ["a", "b", "d"])).toEqual({ a: "1" });
  });
});

describe("pancakeDirectGet", () => {
  const url = "https://pancake.vn/api/v1/pages/270136663390370/conversations";

  it("sends ?jwt= as the jwt cookie, with the Referer from config, and drops jwt and page_id from the query", async () => {
    const upstream = new FakeUpstream().on(url, { json: { success: true } });
    await pancakeDirect.get(
      input(
        "pages/270136663390370/conversations",
        "jwt=eyJ.abc-def_1&page_id=270136663390370&type=NOPHONE&q=a%20b&q=c+d",
        {
          accept: "application/json",
          cookie: "browser=1",
          "user-agent": "Chrome",
          authorization: "Bearer x",
        },
      ),
      testDeps(upstream),
    );
    const [sent] = upstream.requests;
    expect(sent?.url).toBe(`${url}?type=NOPHONE&q=a%20b&q=c+d`);
    expect(sent?.method).toBe("GET");
    expect(sent?.headers).toEqual({
      accept: "application/json",
      origin: "https://pancake.vn",
      referer: "https://pancake.vn/",
      cookie: "jwt=eyJ.abc-def_1; locale=vi",
    });
    expect(sent?.guarded).toBe(false);
  });

  it("uses PANCAKE_REFERER and PANCAKE_BASE_URL from the configuration", async () => {
    const upstream = new FakeUpstream().on("http://127.0.0.1:4200/api/v1/pages", { json: {} });
    await pancakeDirect.get(
      input("pages", "jwt=t"),
      testDeps(upstream, {
        PANCAKE_BASE_URL: "http://127.0.0.1:4200",
        PANCAKE_REFERER: "https://pancake.vn/shop-n2store",
      }),
    );
    expect(upstream.requests[0]?.headers.referer).toBe("https://pancake.vn/shop-n2store");
    expect(upstream.requests[0]?.headers.origin).toBe("http://127.0.0.1:4200");
  });

  it("sends no cookie when the caller gives no jwt", async () => {
    const upstream = new FakeUpstream().on(url, { json: {} });
    await pancakeDirect.get(
      input("pages/270136663390370/conversations", "page_id=1", { cookie: "jwt=from-browser" }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.headers.cookie).toBeUndefined();
    expect(upstream.requests[0]?.url).toBe(url);
  });

  it("passes Pancake's answer back with its status, content headers and body, without cookies", async () => {
    const upstream = new FakeUpstream().on(url, {
      status: 404,
      headers: { "content-type": "application/json", "set-cookie": "jwt=x", "x-powered-by": "Phoenix" },
      body: '{"success":false}',
    });
    const result = await pancakeDirect.get(
      input("pages/270136663390370/conversations", "jwt=t"),
      testDeps(upstream),
    );
    expect(result.status).toBe(404);
    expect(result.headers).toEqual({
      "content-type": "application/json",
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox; default-src 'none'",
    });
    expect(bodyText(result.raw)).toBe('{"success":false}');
  });

  it("forwards a POST body with its content type, and the query without jwt", async () => {
    const target = "https://pancake.vn/api/v1/pages/1/conversations/2/messages";
    const upstream = new FakeUpstream().on(target, { json: { success: true } });
    await pancakeDirect.post(
      postInput("pages/1/conversations/2/messages", rawBody('{"action":"reply_inbox"}'), "jwt=t&page_id=1", {
        "content-type": "application/json",
      }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]).toMatchObject({
      url: target,
      method: "POST",
      body: '{"action":"reply_inbox"}',
      headers: { "content-type": "application/json", cookie: "jwt=t; locale=vi" },
    });
  });
});

describe("pancakeGenericGet", () => {
  const url = "https://pancake.vn/api/v1/pages";

  it("keeps access_token in the query and also sends it as the jwt cookie, with the multi-page Referer", async () => {
    const upstream = new FakeUpstream().on(url, { json: { success: true } });
    await pancakeGeneric.get(
      input("pages", "access_token=eyJ.abc-def_1&type=all", {
        accept: "application/json",
        cookie: "browser=1",
        authorization: "Bearer x",
        "user-agent": "Chrome",
      }),
      testDeps(upstream),
    );
    const [sent] = upstream.requests;
    expect(sent?.url).toBe(`${url}?access_token=eyJ.abc-def_1&type=all`);
    expect(sent?.headers).toEqual({
      accept: "application/json",
      origin: "https://pancake.vn",
      referer: "https://pancake.vn/multi_pages",
      cookie: "jwt=eyJ.abc-def_1; locale=vi",
    });
  });

  it("takes its Referer from PANCAKE_GENERIC_REFERER and sends no cookie without access_token", async () => {
    const upstream = new FakeUpstream().on(url, { json: {} });
    await pancakeGeneric.get(
      input("pages", "", { cookie: "jwt=from-browser" }),
      testDeps(upstream, { PANCAKE_GENERIC_REFERER: "https://pancake.vn/NhiJudyStore" }),
    );
    expect(upstream.requests[0]?.headers.referer).toBe("https://pancake.vn/NhiJudyStore");
    expect(upstream.requests[0]?.headers.cookie).toBeUndefined();
  });

  it("streams a POST body (conversations/search's form) with its content type", async () => {
    const target = "https://pancake.vn/api/v1/conversations/search?q=0912&access_token=t&cursor_mode=true";
    const upstream = new FakeUpstream().on(target, { json: { conversations: [] } });
    await pancakeGeneric.post(
      postInput("conversations/search", rawBody("page_ids=1,2"), "q=0912&access_token=t&cursor_mode=true", {
        "content-type": "application/x-www-form-urlencoded",
      }),
      testDeps(upstream),
    );
    const [sent] = upstream.requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(await bodyText(sent?.body)).toBe("page_ids=1,2");
  });
});

describe("tposApiGet: the TPOS catch-all", () => {
  it("sends any other /api path to TPOS_BASE_URL/{path} with the TPOS headers", async () => {
    const url = "https://tomato.tpos.vn/fastsaleorder/print1?ids=101";
    const upstream = new FakeUpstream().on(url, { json: { html: "<p>bill</p>" } });
    await tposApi.get(
      input("fastsaleorder/print1", "ids=101", { authorization: "Bearer t", cookie: "c=1", host: "gw" }),
      testDeps(upstream),
    );
    const [sent] = upstream.requests;
    expect(sent?.url).toBe(url);
    expect(sent?.headers).toMatchObject({
      authorization: "Bearer t",
      origin: "https://tomato.tpos.vn",
      referer: "https://tomato.tpos.vn/",
    });
    expect(sent?.headers.cookie).toBeUndefined();
    expect(sent?.headers.host).toBeUndefined();
  });

  it("knows every first segment of the gateway's own /api operations", () => {
    expect([...OWN_API_SEGMENTS].sort()).toEqual(
      expect.arrayContaining([
        "customers",
        "debug",
        "facebook-send",
        "odata",
        "pancake",
        "pancake-direct",
        "proxy",
        "realtime",
        "rest",
        "sepay",
        "token",
      ]),
    );
  });

  it.each(["token", "Token", "customers/1/orders", "rest", "realtime/status", "sepay/webhook"])(
    "answers 404 ROUTE_NOT_FOUND for /api/%s, a path of the gateway's own, reaching nothing",
    async (path) => {
      const upstream = new FakeUpstream();
      await expect(tposApi.get(input(path), testDeps(upstream))).rejects.toMatchObject({
        code: "ROUTE_NOT_FOUND",
        status: 404,
        message: `No operation answers GET /api/${path}.`,
      });
      expect(upstream.requests).toHaveLength(0);
    },
  );

  it("streams an export's POST body to TPOS", async () => {
    const url = "https://tomato.tpos.vn/FastSaleOrder/ExportFile?TagIds=";
    const upstream = new FakeUpstream().on(url, {
      body: "PK\u0003\u0004",
      headers: { "content-type": "application/octet-stream" },
    });
    await tposApi.post(
      postInput("FastSaleOrder/ExportFile", rawBody('{"data":"{}","ids":[]}'), "TagIds=", {
        "content-type": "application/json",
        authorization: "Bearer t",
      }),
      testDeps(upstream),
    );
    expect(await bodyText(upstream.requests[0]?.body)).toBe('{"data":"{}","ids":[]}');
  });
});

describe("pancakeOfficialGet", () => {
  it("forwards to PANCAKE_PUBLIC_BASE_URL/api/public_api/v1 with the query unchanged", async () => {
    const url = "https://pages.fm/api/public_api/v1/pages/1/conversations?page_access_token=pat&since=1";
    const sent = await sentTo(url, { json: {} }, (deps) =>
      pancakeOfficial.get(
        input("pages/1/conversations", "page_access_token=pat&since=1", { cookie: "x=1" }),
        deps,
      ),
    );
    expect(sent?.headers).toEqual({
      accept: "application/json, text/plain, */*",
      origin: "https://pages.fm",
      referer: "https://pages.fm/",
    });
  });
});

describe("tposRestGet", () => {
  it("forwards to TPOS_BASE_URL/rest/{path} with only the allowed browser headers plus Origin, Referer and tposappversion", async () => {
    const url = "https://tomato.tpos.vn/rest/v2.0/notification/not-read";
    const browserHeaders = {
      authorization: "Bearer eyJ.tpos",
      cookie: "ASP.NET_SessionId=abc",
      host: "gw.n2store.vn",
      "user-agent": "Chrome",
      "cf-connecting-ip": "203.0.113.9",
      "sec-fetch-mode": "cors",
      "x-forwarded-for": "203.0.113.9",
      "if-none-match": 'W/"1"',
      "x-tpos-lang": "vi",
      "feature-version": "2",
    };
    const sent = await sentTo(url, { json: { value: 0 } }, (deps) =>
      tposRest.get(input("v2.0/notification/not-read", "", browserHeaders), deps),
    );
    expect(sent?.headers).toEqual({
      accept: "*/*",
      tposappversion: "6.5.14.1",
      authorization: "Bearer eyJ.tpos",
      "if-none-match": 'W/"1"',
      "x-tpos-lang": "vi",
      "feature-version": "2",
      origin: "https://tomato.tpos.vn",
      referer: "https://tomato.tpos.vn/",
    });
  });

  /** A TPOS whose every answer to /rest/v2.0/a carries `version` as its tposappversion. */
  const tposAnswering = (version: string) => {
    const upstream = new FakeUpstream().on("https://tomato.tpos.vn/rest/v2.0/a", {
      json: {},
      headers: { tposappversion: version },
    });
    return { upstream, deps: testDeps(upstream) };
  };

  it("learns a new tposappversion from a response and sends it on the next request", async () => {
    const { upstream, deps } = tposAnswering("6.7.0.1");
    await tposRest.get(input("v2.0/a"), deps);
    expect(deps.tposAppVersion.value).toBe("6.7.0.1");
    await tposRest.get(input("v2.0/a"), deps);
    expect(upstream.requests.map((request) => request.headers.tposappversion)).toEqual([
      "6.5.14.1",
      "6.7.0.1",
    ]);
  });

  it("ignores a tposappversion response header that is not a version", async () => {
    const { deps } = tposAnswering("latest");
    await tposRest.get(input("v2.0/a"), deps);
    expect(deps.tposAppVersion.value).toBe("6.5.14.1");
  });

  it("passes tposappversion back to the caller", async () => {
    const result = await tposRest.get(input("v2.0/a"), tposAnswering("6.7.0.1").deps);
    expect(result.headers.tposappversion).toBe("6.7.0.1");
  });

  it("refuses a path that climbs out of /rest/ before any request", async () => {
    const upstream = new FakeUpstream();
    await expect(tposRest.get(input("../token"), testDeps(upstream))).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
    expect(upstream.requests).toHaveLength(0);
  });

  it("maps an unreachable TPOS to 502 UPSTREAM_UNREACHABLE", async () => {
    const upstream = new FakeUpstream().on(
      "https://tomato.tpos.vn/rest/v2.0/a",
      new UpstreamFailure("unreachable", "ECONNREFUSED"),
    );
    await expect(tposRest.get(input("v2.0/a"), testDeps(upstream))).rejects.toMatchObject({
      code: "UPSTREAM_UNREACHABLE",
      status: 502,
    });
  });
});

describe("tposRestPost", () => {
  it("streams the body with the caller's content type", async () => {
    const url = "https://tomato.tpos.vn/rest/v2.0/fastsaleorder";
    const upstream = new FakeUpstream().on(url, { status: 201, json: { Id: 7 } });
    const result = await tposRest.post(
      postInput("v2.0/fastsaleorder", rawBody('{"PartnerId":1}'), "", {
        "content-type": "application/json;IEEE754Compatible=false;charset=utf-8",
        "content-length": "15",
      }),
      testDeps(upstream),
    );
    expect(result.status).toBe(201);
    expect(upstream.requests[0]).toMatchObject({
      method: "POST",
      body: '{"PartnerId":1}',
      headers: { "content-type": "application/json;IEEE754Compatible=false;charset=utf-8" },
    });
    expect(upstream.requests[0]?.headers["content-length"]).toBeUndefined();
  });

  it("sends no content type when there is no body", async () => {
    const url = "https://tomato.tpos.vn/rest/v2.0/x";
    const upstream = new FakeUpstream().on(url, { json: {} });
    await tposRest.post(
      postInput("v2.0/x", null, "", { "content-type": "application/json" }),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.body).toBeNull();
    expect(upstream.requests[0]?.headers["content-type"]).toBeUndefined();
  });
});

describe("tposODataGet", () => {
  it("forwards to TPOS_BASE_URL/odata/{path} keeping OData's characters and query", async () => {
    const url =
      "https://tomato.tpos.vn/odata/SaleOnline_Order(c2060000-5d17)/ODataService.GetView?$top=20&$count=true";
    const upstream = new FakeUpstream().on(url, { json: { value: [] } });
    await tposOData.get(
      input("SaleOnline_Order(c2060000-5d17)/ODataService.GetView", "$top=20&$count=true"),
      testDeps(upstream),
    );
    expect(upstream.requests[0]?.url).toBe(url);
  });

  it("fetches $metadata as written", async () => {
    const upstream = new FakeUpstream().on("https://tomato.tpos.vn/odata/$metadata", { body: "<edmx/>" });
    await tposOData.get(input("$metadata"), testDeps(upstream));
    expect(upstream.requests[0]?.url).toBe("https://tomato.tpos.vn/odata/$metadata");
  });
});
