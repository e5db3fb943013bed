import type { Schema } from "@n2store/generated";
import { type Selectable, sql } from "kysely";
import { withDatabase } from "../../db/errors.js";
import type { SepayLogsTable } from "../../db/schema.js";
import type { NodeHandler } from "../../deps.js";
import { ApiError } from "../../errors.js";

type SepayTransaction = Schema<"SepayTransaction">;

/** SePay's `transactionDate` is Vietnam local time (UTC+07:00) without a zone. */
export function vietnamTimeToDate(transactionDate: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(transactionDate);
  if (match === null) {
    return null;
  }
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const utc = Date.UTC(year, month - 1, day, hour - 7, minute, second);
  const check = new Date(utc + 7 * 3600 * 1000);
  // Date.UTC rolls 2026-02-30 over to March: a date that changes on the way back was not real.
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return null;
  }
  return new Date(utc);
}

function toTransaction(row: Selectable<SepayLogsTable>): SepayTransaction {
  return {
    id: Number(row.id),
    gateway: row.gateway,
    transactionDate: row.transaction_date,
    transactionAt: new Date(row.transaction_at).toISOString(),
    accountNumber: row.account_number,
    code: row.code,
    content: row.content,
    transferType: row.transfer_type as SepayTransaction["transferType"],
    transferAmount: Number(row.transfer_amount),
    accumulated: Number(row.accumulated),
    subAccount: row.sub_account,
    referenceCode: row.reference_code,
    description: row.description,
    receivedAt: new Date(row.received_at).toISOString(),
  };
}

/**
 * POST /api/sepay/webhook: records a transfer once per SePay id. The 2xx goes out only after the
 * row is committed (an insert in its own statement), so a 2xx always means "stored"; a redelivery
 * of the same id is a 2xx with `duplicate: true` and no second row; a database that cannot be
 * reached is 503, which SePay retries. New transactions are pushed to browser sockets.
 */
export const receiveSepayWebhook: NodeHandler<"receiveSepayWebhook"> = async (input, deps) => {
  const payload = input.body;
  const transactionAt = vietnamTimeToDate(payload.transactionDate);
  if (transactionAt === null) {
    throw new ApiError("VALIDATION_FAILED", "body.transactionDate: is not a real date and time", {
      details: [
        { path: ["body", "transactionDate"], message: "is not a real date and time (YYYY-MM-DD HH:MM:SS)" },
      ],
      nothingSent: true,
    });
  }
  const inserted = await withDatabase(() =>
    deps.db
      .insertInto("sepay_logs")
      .values({
        id: payload.id,
        gateway: payload.gateway,
        transaction_date: payload.transactionDate,
        transaction_at: transactionAt,
        account_number: payload.accountNumber,
        code: payload.code ?? null,
        content: payload.content ?? null,
        transfer_type: payload.transferType,
        transfer_amount: payload.transferAmount,
        accumulated: payload.accumulated,
        sub_account: payload.subAccount ?? null,
        reference_code: payload.referenceCode ?? null,
        description: payload.description ?? null,
        raw: JSON.stringify(payload),
      })
      .onConflict((conflict) => conflict.column("id").doNothing())
      .returningAll()
      .executeTakeFirst(),
  );
  if (inserted === undefined) {
    deps.log.info({ sepayId: payload.id }, "SePay redelivered a recorded transaction");
    return { status: 200, body: { success: true, id: payload.id, duplicate: true } };
  }
  deps.log.info({ sepayId: payload.id, transferType: payload.transferType }, "SePay transaction recorded");
  await deps
    .publish({ type: "sepay:transaction", payload: toTransaction(inserted) })
    .catch((error: unknown) => {
      // The row is committed, which is what SePay waits for; a missed push only delays the browsers.
      deps.log.warn({ err: error, sepayId: payload.id }, "could not push a SePay transaction to browsers");
    });
  return { status: 200, body: { success: true, id: payload.id, duplicate: false } };
};

function encodeCursor(at: Date, id: number): string {
  return btoa(`${at.toISOString()}|${id}`).replaceAll("=", "");
}

function decodeCursor(cursor: string): { at: Date; id: number } {
  try {
    const [at, id] = atob(cursor).split("|");
    const date = new Date(at ?? "");
    const number = Number(id);
    if (!Number.isNaN(date.getTime()) && Number.isSafeInteger(number)) {
      return { at: date, id: number };
    }
  } catch {
    // fall through to the error below
  }
  throw new ApiError("VALIDATION_FAILED", "query.cursor: is not a cursor this server gave out", {
    details: [{ path: ["query", "cursor"], message: "is not a cursor this server gave out" }],
    nothingSent: true,
  });
}

/** A Vietnam calendar date as the UTC instant it starts. */
function vietnamDayStart(date: string): Date {
  return new Date(`${date}T00:00:00+07:00`);
}

/** GET /api/sepay/transactions: newest first, filtered, with a keyset cursor. */
export const listSepayTransactions: NodeHandler<"listSepayTransactions"> = async (input, deps) => {
  const { from, to, minAmount, maxAmount, q, transferType, cursor } = input.query;
  const limit = input.query.limit ?? 50;
  return withDatabase(async () => {
    let query = deps.db.selectFrom("sepay_logs").selectAll();
    if (from !== undefined) {
      query = query.where("transaction_at", ">=", vietnamDayStart(from));
    }
    if (to !== undefined) {
      query = query.where("transaction_at", "<", new Date(vietnamDayStart(to).getTime() + 24 * 3600 * 1000));
    }
    if (minAmount !== undefined) {
      query = query.where("transfer_amount", ">=", minAmount);
    }
    if (maxAmount !== undefined) {
      query = query.where("transfer_amount", "<=", maxAmount);
    }
    if (transferType !== undefined) {
      query = query.where("transfer_type", "=", transferType);
    }
    if (q !== undefined) {
      const pattern = `%${q.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
      query = query.where(sql<boolean>`content ILIKE ${pattern}`);
    }
    if (cursor !== undefined) {
      const after = decodeCursor(cursor);
      query = query.where(sql<boolean>`(transaction_at, id) < (${after.at}, ${after.id})`);
    }
    const rows = await query
      .orderBy("transaction_at", "desc")
      .orderBy("id", "desc")
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextCursor =
      rows.length > limit && last !== undefined
        ? encodeCursor(new Date(last.transaction_at), Number(last.id))
        : null;
    return { status: 200, body: { items: page.map(toTransaction), nextCursor } };
  });
};
