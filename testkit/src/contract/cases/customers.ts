/** Contract cases of the `customers` tag (Node server, PostgreSQL); the edge answers 501. */
import { expect } from "vitest";
import type { CaseContext, ContractCase, Loose } from "../context.js";
import { withKey } from "../context.js";
import {
  apiKeyCases,
  apiKeyNegatives,
  badIdempotencyKey,
  bearerKeyCase,
  contractCase,
  expectQueryRefused,
  expectRefused,
  jsonBodyNegatives,
  notServedOnEdge,
} from "./shared.js";

/** A Vinaphone number (091…) no other case uses. */
const phone = (ctx: CaseContext) => `091${ctx.uniqueDigits(7)}`;

/** Creates a customer through the target; returns its body. */
async function create(ctx: CaseContext, fields: Record<string, unknown> = {}): Promise<Loose> {
  const response = await ctx.call("POST", "/api/customers", {
    headers: withKey(),
    json: { phone: phone(ctx), name: "Nguyễn Thị Lan", ...fields },
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return ctx.json(response);
}

/** The number of customers, counted through the target. */
async function total(ctx: CaseContext): Promise<number> {
  const response = await ctx.call("GET", "/api/customers?limit=1", { headers: withKey() });
  return (await ctx.json(response)).total;
}

const MISSING_ID = 2147483647;

export const customerCases: ContractCase[] = [
  contractCase("listCustomers", "happy", "lists newest first with page, limit and total", async (ctx) => {
    const older = await create(ctx);
    const newer = await create(ctx);
    const response = await ctx.call("GET", "/api/customers?limit=2&page=1", { headers: withKey() });
    expect(response.status).toBe(200);
    const body = await ctx.json(response);
    expect(body).toMatchObject({ page: 1, limit: 2 });
    expect(body.total).toBeGreaterThanOrEqual(2);
    expect(body.items.map((c: Loose) => c.id)).toEqual([newer.id, older.id]);
    const second = await ctx.json(
      await ctx.call("GET", "/api/customers?limit=1&page=2", { headers: withKey() }),
    );
    expect(second.items.map((c: Loose) => c.id)).toEqual([older.id]);
  }),
  contractCase(
    "listCustomers",
    "happy",
    "finds a customer by phone in any usual spelling, and by name",
    async (ctx) => {
      const name = `Trần ${ctx.unique("Bình")}`;
      const customer = await create(ctx, { name });
      const national = customer.phone as string;
      const spelled = `+84 ${national.slice(1, 4)} ${national.slice(4, 7)} ${national.slice(7)}`;
      for (const q of [national.slice(0, 7), spelled, national.slice(-4)]) {
        const body = await ctx.json(
          await ctx.call("GET", `/api/customers?q=${encodeURIComponent(q)}`, { headers: withKey() }),
        );
        expect(
          body.items.map((c: Loose) => c.id),
          q,
        ).toContain(customer.id);
      }
      const byName = await ctx.json(
        await ctx.call("GET", `/api/customers?q=${encodeURIComponent(name.toUpperCase())}`, {
          headers: withKey(),
        }),
      );
      expect(byName.items.map((c: Loose) => c.id)).toEqual([customer.id]);
    },
  ),
  contractCase("listCustomers", "happy", "filters by status", async (ctx) => {
    const bomb = await create(ctx, { status: "bomb" });
    const body = await ctx.json(
      await ctx.call("GET", "/api/customers?status=bomb&limit=100", { headers: withKey() }),
    );
    expect(body.items.every((c: Loose) => c.status === "bomb")).toBe(true);
    expect(body.items.map((c: Loose) => c.id)).toContain(bomb.id);
  }),
  contractCase("listCustomers", "happy", "treats LIKE wildcards in q as plain text", async (ctx) => {
    await create(ctx);
    const body = await ctx.json(await ctx.call("GET", "/api/customers?q=%25", { headers: withKey() }));
    expect(body.items).toEqual([]);
  }),
  ...apiKeyCases("listCustomers", "GET", () => ({ path: "/api/customers", init: { headers: withKey() } })),
  contractCase(
    "listCustomers",
    "negative",
    "refuses page, limit, status and q out of their ranges with 400",
    async (ctx) => {
      await expectQueryRefused(
        ctx,
        "/api/customers",
        [
          ["limit=0", "limit"],
          ["limit=101", "limit"],
          ["limit=abc", "limit"],
          ["limit=1.5", "limit"],
          ["page=0", "page"],
          ["page=100001", "page"],
          ["page=Infinity", "page"],
          ["status=gold", "status"],
          ["q=", "q"],
          [`q=${"9".repeat(101)}`, "q"],
        ],
        { headers: withKey() },
      );
    },
  ),
  contractCase(
    "listCustomers",
    "negative",
    "refuses a search for a NUL character with 400, not a database failure",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("GET", "/api/customers?q=%00", { headers: withKey() }),
        400,
        "VALIDATION_FAILED",
      );
    },
  ),
  notServedOnEdge("listCustomers", "GET", () => ({ path: "/api/customers", init: { headers: withKey() } })),

  contractCase(
    "createCustomer",
    "happy",
    "creates with a normalised phone, its carrier and a Location",
    async (ctx) => {
      const digits = ctx.uniqueDigits(7);
      const response = await ctx.call("POST", "/api/customers", {
        headers: withKey(),
        json: {
          phone: `+84 91${digits.slice(0, 1)}-${digits.slice(1, 4)}.${digits.slice(4)}`,
          name: "  Lê Văn Cường ",
          email: "cuong@example.vn",
          debt: -150000,
        },
      });
      expect(response.status).toBe(201);
      const body = await ctx.json(response);
      expect(body).toMatchObject({
        phone: `091${digits}`,
        name: "Lê Văn Cường",
        carrier: "Vinaphone",
        status: "normal",
        debt: -150000,
        email: "cuong@example.vn",
        address: null,
        note: null,
      });
      expect(response.headers.get("location")).toBe(`/api/customers/${body.id}`);
      expect(body.createdAt).toBe(body.updatedAt);
    },
  ),
  contractCase(
    "createCustomer",
    "happy",
    "replays a repeated Idempotency-Key with the same customer, creating one",
    async (ctx) => {
      const key = ctx.unique("customer");
      const json = { phone: phone(ctx), name: "Khách mới" };
      const first = await ctx.call("POST", "/api/customers", {
        headers: withKey({ "idempotency-key": key }),
        json,
      });
      expect(first.status).toBe(201);
      const created = await ctx.json(first);
      const count = await total(ctx);
      const again = await ctx.call("POST", "/api/customers", {
        headers: withKey({ "idempotency-key": key }),
        json,
      });
      expect(again.status).toBe(201);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect((await ctx.json(again)).id).toBe(created.id);
      expect(await total(ctx)).toBe(count);
      await ctx.expectError(
        await ctx.call("POST", "/api/customers", {
          headers: withKey({ "idempotency-key": key }),
          json: { ...json, name: "Khác" },
        }),
        422,
        "IDEMPOTENCY_KEY_REUSED",
      );
    },
  ),
  contractCase(
    "createCustomer",
    "negative",
    "refuses a phone another customer has with 409 naming that customer",
    async (ctx) => {
      const existing = await create(ctx);
      const spelled = `+84${(existing.phone as string).slice(1)}`;
      const error = await expectRefused(
        ctx,
        "POST",
        { path: "/api/customers", init: { headers: withKey(), json: { phone: spelled, name: "B" } } },
        409,
        "CUSTOMER_PHONE_EXISTS",
        total,
      );
      expect(error.details).toEqual([
        { path: ["body", "phone"], message: `already used by customer ${existing.id}` },
      ]);
    },
  ),
  contractCase(
    "createCustomer",
    "negative",
    "refuses a phone that is not Vietnamese, or malformed, with 400",
    async (ctx) => {
      for (const value of ["0111111111", "12345", "0912 345 678 901 234 56", "09123abc45"]) {
        const error = await expectRefused(
          ctx,
          "POST",
          { path: "/api/customers", init: { headers: withKey(), json: { phone: value, name: "x" } } },
          400,
          "VALIDATION_FAILED",
          total,
        );
        expect(
          error.details?.map((d) => d.path),
          value,
        ).toContainEqual(["body", "phone"]);
      }
    },
  ),
  contractCase(
    "createCustomer",
    "negative",
    "refuses a blank name, a bad email and an unknown status with 400",
    async (ctx) => {
      for (const [fields, field] of [
        [{ name: "   " } as Record<string, unknown>, "name"],
        [{ email: "not-an-email" }, "email"],
        [{ status: "gold" }, "status"],
        [{ debt: 1.5 }, "debt"],
        [{ debt: 1e13 }, "debt"],
      ] as const) {
        const json: Record<string, unknown> = { phone: phone(ctx), name: "x", ...fields };
        const error = await expectRefused(
          ctx,
          "POST",
          { path: "/api/customers", init: { headers: withKey(), json } },
          400,
          "VALIDATION_FAILED",
          total,
        );
        expect(
          error.details?.map((d) => d.path),
          field,
        ).toContainEqual(["body", field]);
      }
    },
  ),
  contractCase(
    "createCustomer",
    "negative",
    "refuses text with a NUL character with 400, not a database failure",
    async (ctx) => {
      await expectRefused(
        ctx,
        "POST",
        {
          path: "/api/customers",
          init: { headers: withKey(), json: { phone: phone(ctx), name: "a\u0000b" } },
        },
        400,
        "VALIDATION_FAILED",
        total,
      );
    },
  ),
  ...jsonBodyNegatives({
    operationId: "createCustomer",
    method: "POST",
    request: async () => ({ path: "/api/customers", headers: withKey() }),
    valid: (ctx) => ({ phone: phone(ctx), name: "x" }),
    required: "name",
    wrongType: ["debt", "150000"],
    closed: true,
    untouched: total,
  }),
  badIdempotencyKey("createCustomer", "POST", (ctx) => ({
    path: "/api/customers",
    init: { headers: withKey(), json: { phone: phone(ctx), name: "x" } },
  })),
  ...apiKeyNegatives(
    "createCustomer",
    "POST",
    (ctx) => ({
      path: "/api/customers",
      init: { headers: withKey(), json: { phone: phone(ctx), name: "x" } },
    }),
    total,
  ),
  notServedOnEdge("createCustomer", "POST", (ctx) => ({
    path: "/api/customers",
    init: { headers: withKey(), json: { phone: phone(ctx), name: "x" } },
  })),

  contractCase("getCustomer", "happy", "gets a customer exactly as it was created", async (ctx) => {
    const created = await create(ctx, { address: "12 Lê Lợi, Quận 1", note: "Khách quen" });
    const response = await ctx.call("GET", `/api/customers/${created.id}`, { headers: withKey() });
    expect(response.status).toBe(200);
    expect(await ctx.json(response)).toEqual(created);
  }),
  bearerKeyCase("getCustomer", "GET", async (ctx) => ({ path: `/api/customers/${(await create(ctx)).id}` })),
  contractCase("getCustomer", "negative", "answers 404 CUSTOMER_NOT_FOUND for an unknown id", async (ctx) => {
    const error = await ctx.expectError(
      await ctx.call("GET", `/api/customers/${MISSING_ID}`, { headers: withKey() }),
      404,
      "CUSTOMER_NOT_FOUND",
    );
    expect(error.message).toContain(String(MISSING_ID));
  }),
  contractCase(
    "getCustomer",
    "negative",
    "refuses an id that is not a positive 32-bit integer with 400",
    async (ctx) => {
      for (const id of [
        "abc",
        "0",
        "-1",
        "1.5",
        "2147483648",
        "Infinity",
        "1e400",
        "9".repeat(400),
        "9".repeat(2100),
      ]) {
        const error = await ctx.expectError(
          await ctx.call("GET", `/api/customers/${id}`, { headers: withKey() }),
          400,
          "VALIDATION_FAILED",
        );
        // Past the router's parameter length the Node server cannot name the parameter: ["path"].
        expect(
          error.details?.some((d) => d.path?.[0] === "path"),
          id.slice(0, 20),
        ).toBe(true);
      }
    },
  ),
  contractCase(
    "getCustomer",
    "negative",
    "refuses an id that is not valid percent-encoding with 400",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("GET", "/api/customers/%E0%A4%A", { headers: withKey() }),
        400,
        "VALIDATION_FAILED",
      );
    },
  ),
  ...apiKeyNegatives("getCustomer", "GET", () => ({
    path: "/api/customers/1",
    init: { headers: withKey() },
  })),
  notServedOnEdge("getCustomer", "GET", () => ({ path: "/api/customers/1", init: { headers: withKey() } })),

  contractCase(
    "updateCustomer",
    "happy",
    "changes only the given fields and bumps updatedAt",
    async (ctx) => {
      const created = await create(ctx, { note: "cũ" });
      const response = await ctx.call("PATCH", `/api/customers/${created.id}`, {
        headers: withKey(),
        json: { status: "vip", debt: 250000, note: null },
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body).toEqual({
        ...created,
        status: "vip",
        debt: 250000,
        note: null,
        updatedAt: body.updatedAt,
      });
      expect(Date.parse(body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));
    },
  ),
  contractCase(
    "updateCustomer",
    "happy",
    "normalises a new phone and derives its carrier again",
    async (ctx) => {
      const created = await create(ctx);
      const digits = ctx.uniqueDigits(7);
      const response = await ctx.call("PATCH", `/api/customers/${created.id}`, {
        headers: withKey(),
        json: { phone: `+84 98${digits}` },
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({ phone: `098${digits}`, carrier: "Viettel" });
    },
  ),
  contractCase(
    "updateCustomer",
    "happy",
    "gives the same customer for the same change repeated",
    async (ctx) => {
      const created = await create(ctx);
      const change = { headers: withKey(), json: { name: "Phạm Thu Hà", status: "warning" } };
      const first = await ctx.json(await ctx.call("PATCH", `/api/customers/${created.id}`, change));
      const second = await ctx.json(await ctx.call("PATCH", `/api/customers/${created.id}`, change));
      expect({ ...second, updatedAt: first.updatedAt }).toEqual(first);
    },
  ),
  contractCase(
    "updateCustomer",
    "negative",
    "refuses an empty change with 400 VALIDATION_FAILED",
    async (ctx) => {
      const created = await create(ctx);
      await ctx.expectError(
        await ctx.call("PATCH", `/api/customers/${created.id}`, { headers: withKey(), json: {} }),
        400,
        "VALIDATION_FAILED",
      );
    },
  ),
  contractCase(
    "updateCustomer",
    "negative",
    "answers 404 CUSTOMER_NOT_FOUND for an unknown id",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("PATCH", `/api/customers/${MISSING_ID}`, { headers: withKey(), json: { note: "x" } }),
        404,
        "CUSTOMER_NOT_FOUND",
      );
    },
  ),
  contractCase(
    "updateCustomer",
    "negative",
    "refuses another customer's phone with 409 and changes nothing",
    async (ctx) => {
      const first = await create(ctx);
      const second = await create(ctx);
      await ctx.expectError(
        await ctx.call("PATCH", `/api/customers/${second.id}`, {
          headers: withKey(),
          json: { phone: first.phone, note: "x" },
        }),
        409,
        "CUSTOMER_PHONE_EXISTS",
      );
      expect(
        await ctx.json(await ctx.call("GET", `/api/customers/${second.id}`, { headers: withKey() })),
      ).toEqual(second);
    },
  ),
  contractCase("updateCustomer", "negative", "refuses a bad id with 400 VALIDATION_FAILED", async (ctx) => {
    await ctx.expectError(
      await ctx.call("PATCH", "/api/customers/abc", { headers: withKey(), json: { note: "x" } }),
      400,
      "VALIDATION_FAILED",
    );
  }),
  ...jsonBodyNegatives({
    operationId: "updateCustomer",
    method: "PATCH",
    request: async (ctx) => ({ path: `/api/customers/${(await create(ctx)).id}`, headers: withKey() }),
    valid: () => ({ note: "Khách quen", status: "vip" }),
    required: "note",
    wrongType: ["status", 5],
    closed: true,
    untouched: total,
  }).filter((c) => !c.name.includes("without note")),
  ...apiKeyNegatives("updateCustomer", "PATCH", () => ({
    path: "/api/customers/1",
    init: { headers: withKey(), json: { note: "x" } },
  })),
  notServedOnEdge("updateCustomer", "PATCH", () => ({
    path: "/api/customers/1",
    init: { headers: withKey(), json: { note: "x" } },
  })),

  contractCase(
    "deleteCustomer",
    "happy",
    "deletes with 204 and no body; the customer is gone",
    async (ctx) => {
      const created = await create(ctx);
      const response = await ctx.call("DELETE", `/api/customers/${created.id}`, { headers: withKey() });
      expect(response.status).toBe(204);
      expect(await response.text()).toBe("");
      await ctx.expectError(
        await ctx.call("GET", `/api/customers/${created.id}`, { headers: withKey() }),
        404,
        "CUSTOMER_NOT_FOUND",
      );
      await ctx.expectError(
        await ctx.call("DELETE", `/api/customers/${created.id}`, { headers: withKey() }),
        404,
        "CUSTOMER_NOT_FOUND",
      );
    },
  ),
  contractCase("deleteCustomer", "negative", "refuses a bad id with 400 VALIDATION_FAILED", async (ctx) => {
    await ctx.expectError(
      await ctx.call("DELETE", "/api/customers/0", { headers: withKey() }),
      400,
      "VALIDATION_FAILED",
    );
  }),
  ...apiKeyNegatives(
    "deleteCustomer",
    "DELETE",
    async (ctx) => ({ path: `/api/customers/${(await create(ctx)).id}`, init: { headers: withKey() } }),
    total,
  ),
  notServedOnEdge("deleteCustomer", "DELETE", () => ({
    path: "/api/customers/1",
    init: { headers: withKey() },
  })),
];
