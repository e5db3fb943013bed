import { describe, expect, it } from "vitest";
import { useStarted } from "../lifecycle.js";
import { FAKE_CREDENTIALS } from "./credentials.js";
import { createFakeTpos, exportBytes, XLSX_TYPE } from "./tpos.js";

const { username, password, clientId } = FAKE_CREDENTIALS.tpos;
const tpos = useStarted(createFakeTpos, { reset: (fake) => fake.reset() });

function form(fields: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  };
}

async function login(): Promise<{ access_token: string; refresh_token: string }> {
  const res = await fetch(
    `${tpos().url}/token`,
    form({ grant_type: "password", username, password, client_id: clientId }),
  );
  expect(res.status).toBe(200);
  return (await res.json()) as { access_token: string; refresh_token: string };
}

async function get(path: string, token: string): Promise<Response> {
  return fetch(`${tpos().url}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

describe("POST /token", () => {
  it("issues unique bearer tokens for the password grant and counts hits", async () => {
    const a = await login();
    const b = await login();
    expect(a).toMatchObject({ token_type: "bearer", expires_in: 1295999 });
    expect(a.access_token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(a.access_token).not.toBe(b.access_token);
    expect(tpos().tokenHits).toBe(2);
    expect(tpos().tokensIssued).toBe(2);
  });

  it("answers OWIN errors with HTTP 400", async () => {
    const bad = await fetch(
      `${tpos().url}/token`,
      form({ grant_type: "password", username, password: "nope", client_id: clientId }),
    );
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: "invalid_grant",
      error_description: "The user name or password is incorrect.",
    });
    const client = await fetch(
      `${tpos().url}/token`,
      form({ grant_type: "password", username, password, client_id: "x" }),
    );
    expect(((await client.json()) as { error: string }).error).toBe("invalid_client");
    const grant = await fetch(
      `${tpos().url}/token`,
      form({ grant_type: "client_credentials", client_id: clientId }),
    );
    expect(grant.status).toBe(400);
    expect(await grant.json()).toEqual({ error: "unsupported_grant_type" });
    expect(tpos().tokenHits).toBe(3);
    expect(tpos().tokensIssued).toBe(0);
  });

  it("accepts the refresh grant and rejects unknown refresh tokens", async () => {
    const first = await login();
    const res = await fetch(
      `${tpos().url}/token`,
      form({ grant_type: "refresh_token", refresh_token: first.refresh_token, client_id: clientId }),
    );
    expect(res.status).toBe(200);
    const second = (await res.json()) as { access_token: string };
    expect((await get("/odata/Partner", second.access_token)).status).toBe(200);
    tpos().revokeRefreshTokens();
    const again = await fetch(
      `${tpos().url}/token`,
      form({ grant_type: "refresh_token", refresh_token: first.refresh_token, client_id: clientId }),
    );
    expect(((await again.json()) as { error: string }).error).toBe("invalid_grant");
  });

  it("can delay /token so concurrent callers overlap", async () => {
    tpos().setTokenDelay(150);
    const t0 = Date.now();
    await Promise.all([login(), login()]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(1000); // served in parallel, not one after another
    expect(tpos().tokenHits).toBe(2);
  });
});

describe("rejectBrowserHeaders", () => {
  it("answers 400 when a cookie or a foreign Host reaches /token", async () => {
    const strict = await createFakeTpos({ rejectBrowserHeaders: true });
    try {
      const body = new URLSearchParams({ grant_type: "password", username, password, client_id: clientId });
      expect((await fetch(`${strict.url}/token`, { method: "POST", body })).status).toBe(200);
      const withCookie = await fetch(`${strict.url}/token`, {
        method: "POST",
        body,
        headers: { cookie: "a=b" },
      });
      expect(withCookie.status).toBe(400);
      const cf = await fetch(`${strict.url}/token`, {
        method: "POST",
        body,
        headers: { "cf-connecting-ip": "1.2.3.4" },
      });
      expect(cf.status).toBe(400);
      expect(strict.tokensIssued).toBe(1);
    } finally {
      await strict.close();
    }
  });
});

describe("Bearer auth", () => {
  it("rejects missing, unknown and expired tokens with the ASP.NET 401 body", async () => {
    const noAuth = await fetch(`${tpos().url}/odata/Partner`);
    expect(noAuth.status).toBe(401);
    expect(await noAuth.json()).toEqual({ Message: "Authorization has been denied for this request." });
    expect((await get("/odata/Partner", "eyJforged")).status).toBe(401);
    const { access_token } = await login();
    const ok = await get("/odata/Partner", access_token);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("tposappversion")).toBe("6.5.14.1");
    tpos().expireAllTokens();
    expect((await get("/odata/Partner", access_token)).status).toBe(401);
  });
});

describe("OData", () => {
  it("puts @odata.count before value and honours $top/$skip/$orderby", async () => {
    const { access_token } = await login();
    const res = await get("/odata/Partner?$count=true&$orderby=Id desc&$top=2&$skip=1", access_token);
    expect(res.headers.get("content-type")).toBe("application/json; odata.metadata=minimal");
    const text = await res.text();
    expect(text.indexOf('"@odata.count"')).toBeLessThan(text.indexOf('"value"'));
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["@odata.context", "@odata.count", "value"]);
    expect(body["@odata.context"]).toBe("http://tomato.tpos.vn/odata/$metadata#Partner");
    expect(body["@odata.count"]).toBe(3);
    expect((body.value as { Id: number }[]).map((p) => p.Id)).toEqual([2, 1]);
  });

  it("filters with comparisons, contains, datetimes and $select", async () => {
    const { access_token } = await login();
    const q = encodeURIComponent(
      "DateCreated ge 2026-05-21T00:00:00.000Z and contains(Name,'khách') and TotalAmount gt 100000",
    );
    const res = await get(
      `/odata/SaleOnline_Order?$filter=${q}&$select=Id,TotalAmount&$orderby=DateCreated`,
      access_token,
    );
    const body = (await res.json()) as { "@odata.context": string; value: Record<string, unknown>[] };
    expect(body["@odata.context"]).toBe(
      "http://tomato.tpos.vn/odata/$metadata#SaleOnline_Order(Id,TotalAmount)",
    );
    expect(body.value.map((o) => o.TotalAmount)).toEqual([120000, 990000]);
    expect(Object.keys(body.value[0] ?? {})).toEqual(["Id", "TotalAmount"]);
    expect("@odata.count" in body).toBe(false);
  });

  it("reads single entities by int and GUID key, 404 in TPOS's shape otherwise", async () => {
    const { access_token } = await login();
    const partner = (await (await get("/odata/Partner(2)", access_token)).json()) as Record<string, unknown>;
    expect(partner).toMatchObject({
      "@odata.context": "http://tomato.tpos.vn/odata/$metadata#Partner/$entity",
      Id: 2,
    });
    const orderId = String(tpos().rows("SaleOnline_Order")[0]?.Id);
    const order = (await (await get(`/odata/SaleOnline_Order(${orderId})`, access_token)).json()) as Record<
      string,
      unknown
    >;
    expect(order.Id).toBe(orderId);
    for (const path of [
      "/odata/Partner(99)",
      "/odata/NoSuchSet",
      "/odata/Partner/ODataService.Nope",
      "/nothing",
    ]) {
      const miss = await get(path, access_token);
      expect(miss.status).toBe(404);
      expect(await miss.json()).toEqual({
        error: { code: "404", message: "The requested API endpoint does not exist.", details: "NotFound" },
      });
    }
  });

  it("answers 500 NotSupportedException for nested $expand", async () => {
    const { access_token } = await login();
    const res = await get("/odata/Product?$expand=ProductVariants($expand=AttributeValues)", access_token);
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { details: string } }).error.details).toBe(
      "NotSupportedException",
    );
  });

  it("executes InsertListOrderModel once per POST and counts calls", async () => {
    const { access_token } = await login();
    const before = tpos().rows("SaleOnline_Order").length;
    const res = await fetch(`${tpos().url}/odata/SaleOnline_Order/ODataService.InsertListOrderModel`, {
      method: "POST",
      headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ models: [{ Name: "Đơn mới", TotalAmount: 50000 }] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { value: { Id: string; Name: string }[] };
    expect(body.value[0]?.Name).toBe("Đơn mới");
    expect(body.value[0]?.Id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tpos().rows("SaleOnline_Order")).toHaveLength(before + 1);
    expect(tpos().operationCalls.filter((c) => c.name === "InsertListOrderModel")).toHaveLength(1);
  });

  it("serves GetView as a view over the set and navigation arrays", async () => {
    const { access_token } = await login();
    const view = (await (
      await get("/odata/SaleOnline_Order/ODataService.GetView?$top=1&$count=true", access_token)
    ).json()) as Record<string, unknown>;
    expect(view["@odata.context"]).toBe("http://tomato.tpos.vn/odata/$metadata#View_SaleOnline_Order");
    expect(view["@odata.count"]).toBe(3);
    const lines = (await (
      await get("/odata/FastSaleOrder(5001)/OrderLines?$expand=Product,ProductUOM", access_token)
    ).json()) as { value: unknown[] };
    expect(lines.value).toHaveLength(1);
  });
});

describe("REST and test routes", () => {
  it("serves chatomni info, comments by user, and counts REST POSTs", async () => {
    const { access_token } = await login();
    const info = (await (await get("/rest/v2.0/chatomni/info/1_24000000000000101", access_token)).json()) as {
      Partner: { Id: number };
    };
    expect(info.Partner.Id).toBe(1);
    const comments = (await (
      await get("/rest/v2.0/facebookpost/123_456/commentsbyuser?userId=u1", access_token)
    ).json()) as { Items: unknown[] };
    expect(comments.Items).toHaveLength(1);
    const post = await fetch(`${tpos().url}/rest/v2.0/order/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json" },
      body: '{"a":1}',
    });
    expect(await post.json()).toEqual({
      success: true,
      path: "/rest/v2.0/order/create",
      received: { a: 1 },
      count: 1,
    });
    expect(tpos().restPosts).toHaveLength(1);
  });

  it("echoes requests and streams big bodies without auth", async () => {
    const echo = (await (
      await fetch(`${tpos().url}/echo/x?y=1`, { headers: { "x-tpos-lang": "vi" } })
    ).json()) as {
      headers: Record<string, string>;
    };
    expect(echo.headers["x-tpos-lang"]).toBe("vi");
    const big = await fetch(`${tpos().url}/big?bytes=1048576`);
    expect((await big.arrayBuffer()).byteLength).toBe(1_048_576);
  });
});

describe("MVC routes: bill printing and the Excel exports", () => {
  it("answers GET /fastsaleorder/print1?ids= with the bill's HTML in JSON, whatever the path's case", async () => {
    const { access_token } = await login();
    const res = await get("/FastSaleOrder/Print1?ids=5001", access_token);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { html: string };
    expect(body.html).toContain("INV/2026/0001");
    expect(body.html).toMatch(/^<!DOCTYPE html>/);
  });

  it("answers TPOS's 404 for an unknown bill and 401 without a token", async () => {
    const { access_token } = await login();
    expect((await get("/fastsaleorder/print1?ids=999999", access_token)).status).toBe(404);
    expect((await fetch(`${tpos().url}/fastsaleorder/print1?ids=5001`)).status).toBe(401);
  });

  it("answers an export's POST with xlsx bytes as an attachment and records the request", async () => {
    const { access_token } = await login();
    const filter = JSON.stringify({ data: "{}", ids: [] });
    const res = await fetch(`${tpos().url}/FastSaleOrder/ExportFile?TagIds=`, {
      method: "POST",
      headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json" },
      body: filter,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(XLSX_TYPE);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename=FastSaleOrder_.*\.xlsx$/);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.equals(exportBytes("/FastSaleOrder/ExportFile"))).toBe(true);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from("PK\u0003\u0004", "latin1"));
    expect(tpos().exports).toHaveLength(1);
    expect(tpos().exports[0]?.body).toBe(filter);
    expect(tpos().exports[0]?.query.get("TagIds")).toBe("");
  });

  it("refuses a GET of an export action with 405, as ASP.NET does for a POST-only action", async () => {
    const { access_token } = await login();
    expect((await get("/Product/ExportProductV2", access_token)).status).toBe(405);
  });
});
