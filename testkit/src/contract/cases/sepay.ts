/** Contract cases of the `sepay` tag (Node server, PostgreSQL); the edge answers 501. */
import { expect } from "vitest";
import { sepayTransaction } from "../../fakes/index.js";
import { SEPAY_KEY } from "../../servers/index.js";
import type { CaseContext, ContractCase, Loose } from "../context.js";
import { withKey } from "../context.js";
import {
  apiKeyCases,
  contractCase,
  expectQueryRefused,
  expectRefused,
  failureLimitCase,
  jsonBodyNegatives,
  notServedOnEdge,
} from "./shared.js";

const sepay = { authorization: `Apikey ${SEPAY_KEY}` };

/** Delivers a transfer marked `marker` with `override` applied; expects 400 VALIDATION_FAILED. */
function refusedDelivery(ctx: CaseContext, marker: string, override: Record<string, unknown>) {
  return expectRefused(
    ctx,
    "POST",
    {
      path: "/api/sepay/webhook",
      init: { headers: sepay, json: { ...sepayTransaction({ content: marker }), ...override } },
    },
    400,
    "VALIDATION_FAILED",
  );
}

/** Delivers a transfer as SePay does; returns the payload. */
async function deliver(
  ctx: CaseContext,
  overrides: Parameters<typeof sepayTransaction>[0] = {},
): Promise<Loose> {
  const payload = sepayTransaction(overrides);
  const response = await ctx.call("POST", "/api/sepay/webhook", { headers: sepay, json: payload });
  expect(response.status, await response.clone().text()).toBe(200);
  expect(await ctx.json(response)).toEqual({ success: true, id: payload.id, duplicate: false });
  return payload;
}

/** The transactions whose content contains `text`, through the target. */
async function find(ctx: CaseContext, text: string): Promise<Loose[]> {
  const response = await ctx.call("GET", `/api/sepay/transactions?q=${encodeURIComponent(text)}&limit=200`, {
    headers: withKey(),
  });
  expect(response.status).toBe(200);
  return (await ctx.json(response)).items;
}

/** Rows recorded with this id (counted through the list, which is what SePay's retries must not grow). */
const recorded = (text: string) => async (ctx: CaseContext) => (await find(ctx, text)).length;

export const sepayCases: ContractCase[] = [
  contractCase(
    "receiveSepayWebhook",
    "happy",
    "records a transfer once and acknowledges a redelivery as a duplicate",
    async (ctx) => {
      const marker = ctx.unique("DH");
      const payload = await deliver(ctx, { content: `${marker} thanh toan`, transferAmount: 350_000 });
      const again = await ctx.call("POST", "/api/sepay/webhook", { headers: sepay, json: payload });
      expect(again.status).toBe(200);
      expect(await ctx.json(again)).toEqual({ success: true, id: payload.id, duplicate: true });
      const rows = await find(ctx, marker);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        id: payload.id,
        transferAmount: 350_000,
        transferType: "in",
        transactionDate: payload.transactionDate,
        referenceCode: payload.referenceCode,
      });
      // transactionDate is Vietnam local time; transactionAt is the same instant in UTC.
      expect(Date.parse(rows[0].transactionAt)).toBe(
        Date.parse(`${payload.transactionDate.replace(" ", "T")}+07:00`),
      );
    },
  ),
  contractCase("receiveSepayWebhook", "happy", "keeps fields SePay adds later", async (ctx) => {
    const marker = ctx.unique("NEW");
    const payload = {
      ...sepayTransaction({ content: marker }),
      bankBrandName: "MB",
      newField: { nested: true },
    };
    const response = await ctx.call("POST", "/api/sepay/webhook", { headers: sepay, json: payload });
    expect(response.status).toBe(200);
    expect(await find(ctx, marker)).toHaveLength(1);
  }),
  failureLimitCase("receiveSepayWebhook", "POST", async (ctx, key) => ({
    path: "/api/sepay/webhook",
    init: {
      headers: {
        authorization: key === undefined ? `Apikey ${ctx.unique("wrong-key")}` : `Apikey ${SEPAY_KEY}`,
      },
      json: sepayTransaction({ content: ctx.unique("LIMIT") }),
    },
  })),
  contractCase(
    "receiveSepayWebhook",
    "negative",
    "refuses a missing, wrong or Bearer-style key with 401",
    async (ctx) => {
      const marker = ctx.unique("AUTH");
      const payload = sepayTransaction({ content: marker });
      for (const headers of [
        {},
        { authorization: "Apikey wrong-key-000000" },
        { authorization: `Bearer ${SEPAY_KEY}` },
      ]) {
        const error = await ctx.expectError(
          await ctx.call("POST", "/api/sepay/webhook", { headers, json: payload }),
          401,
          "UNAUTHORIZED",
        );
        expect(JSON.stringify(error)).not.toContain(SEPAY_KEY);
      }
      expect(await find(ctx, marker)).toHaveLength(0);
    },
  ),
  contractCase(
    "receiveSepayWebhook",
    "negative",
    "refuses an impossible date, a bad type or amount with 400, recording nothing",
    async (ctx) => {
      const marker = ctx.unique("BAD");
      for (const [override, field] of [
        [{ transactionDate: "2026-02-30 10:00:00" }, "transactionDate"],
        [{ transactionDate: "2026-11-25T14:02:37" }, "transactionDate"],
        [{ transferType: "sideways" }, "transferType"],
        [{ transferAmount: -1 }, "transferAmount"],
        [{ transferAmount: 1.5 }, "transferAmount"],
        [{ id: 0 }, "id"],
      ] as const) {
        const error = await refusedDelivery(ctx, marker, override);
        expect(
          error.details?.map((d) => d.path),
          field,
        ).toContainEqual(["body", field]);
      }
      expect(await find(ctx, marker)).toHaveLength(0);
    },
  ),
  contractCase(
    "receiveSepayWebhook",
    "negative",
    "refuses values the database cannot store (NUL, an amount past 64 bits) with 400, not 500",
    async (ctx) => {
      const marker = ctx.unique("NUL");
      for (const override of [
        { content: `${marker}\u0000` },
        { description: "\u0000" },
        { transferAmount: 1e300 },
      ]) {
        await refusedDelivery(ctx, marker, override);
      }
      expect(await find(ctx, marker)).toHaveLength(0);
    },
  ),
  ...jsonBodyNegatives({
    operationId: "receiveSepayWebhook",
    method: "POST",
    request: async () => ({ path: "/api/sepay/webhook", headers: sepay }),
    valid: () => ({ ...sepayTransaction({ content: "JSON-NEGATIVE" }) }),
    required: "transferAmount",
    wrongType: ["transferAmount", "350000"],
    closed: false,
    untouched: recorded("JSON-NEGATIVE"),
  }),
  notServedOnEdge("receiveSepayWebhook", "POST", () => ({
    path: "/api/sepay/webhook",
    init: { headers: sepay, json: sepayTransaction() },
  })),

  contractCase(
    "listSepayTransactions",
    "happy",
    "lists newest first, filtered by text, type and amount",
    async (ctx) => {
      const marker = ctx.unique("LIST");
      const small = await deliver(ctx, { content: `${marker} nho`, transferAmount: 10_000 });
      const big = await deliver(ctx, { content: `${marker} lon`, transferAmount: 5_000_000 });
      const out = await deliver(ctx, {
        content: `${marker} chi`,
        transferAmount: 20_000,
        transferType: "out",
      });
      expect((await find(ctx, marker)).map((t: Loose) => t.id)).toEqual([out.id, big.id, small.id]);
      const query = async (filters: string) =>
        (
          await ctx.json(
            await ctx.call("GET", `/api/sepay/transactions?q=${encodeURIComponent(marker)}&${filters}`, {
              headers: withKey(),
            }),
          )
        ).items.map((t: Loose) => t.id);
      expect(await query("transferType=out")).toEqual([out.id]);
      expect(await query("minAmount=1000000")).toEqual([big.id]);
      expect(await query("maxAmount=15000")).toEqual([small.id]);
      const today = new Date(Date.now() + 7 * 3_600_000).toISOString().slice(0, 10);
      expect(await query(`from=${today}&to=${today}`)).toHaveLength(3);
      expect(await query("to=2000-01-01")).toEqual([]);
    },
  ),
  contractCase(
    "listSepayTransactions",
    "happy",
    "pages with an opaque cursor until nextCursor is null",
    async (ctx) => {
      const marker = ctx.unique("PAGE");
      const ids = [];
      for (let i = 0; i < 3; i++) {
        ids.unshift((await deliver(ctx, { content: `${marker} ${i}` })).id);
      }
      const seen: number[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 5; page++) {
        const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const body: Loose = await ctx.json(
          await ctx.call("GET", `/api/sepay/transactions?q=${encodeURIComponent(marker)}&limit=2${suffix}`, {
            headers: withKey(),
          }),
        );
        seen.push(...body.items.map((t: Loose) => t.id));
        cursor = body.nextCursor;
        if (cursor === null) {
          break;
        }
      }
      expect(seen).toEqual(ids);
    },
  ),
  ...apiKeyCases("listSepayTransactions", "GET", () => ({
    path: "/api/sepay/transactions",
    init: { headers: withKey() },
  })),
  contractCase(
    "listSepayTransactions",
    "negative",
    "refuses filters out of their ranges, and a foreign cursor, with 400",
    async (ctx) => {
      await expectQueryRefused(
        ctx,
        "/api/sepay/transactions",
        [
          ["limit=0", "limit"],
          ["limit=201", "limit"],
          ["from=2026-02-30", "from"],
          ["to=yesterday", "to"],
          ["minAmount=-1", "minAmount"],
          ["maxAmount=abc", "maxAmount"],
          ["minAmount=Infinity", "minAmount"],
          ["transferType=sideways", "transferType"],
          ["q=", "q"],
          ["cursor=not-a-cursor", "cursor"],
        ],
        { headers: withKey() },
      );
    },
  ),
  contractCase(
    "listSepayTransactions",
    "negative",
    "refuses a NUL in q and an amount past 64 bits with 400, not a database failure",
    async (ctx) => {
      for (const query of ["q=%00", "minAmount=1e30", "maxAmount=99999999999999999999"]) {
        await ctx.expectError(
          await ctx.call("GET", `/api/sepay/transactions?${query}`, { headers: withKey() }),
          400,
          "VALIDATION_FAILED",
        );
      }
    },
  ),
  notServedOnEdge("listSepayTransactions", "GET", () => ({
    path: "/api/sepay/transactions",
    init: { headers: withKey() },
  })),
];
