import type { Schema } from "@n2store/generated";
import { type Kysely, type Selectable, sql } from "kysely";
import { pgCode, withDatabase } from "../../db/errors.js";
import type { CustomersTable, Database } from "../../db/schema.js";
import type { NodeHandler } from "../../deps.js";
import { ApiError } from "../../errors.js";
import { carrierOf, normalizePhone, phoneDigits } from "../../phone.js";

type Customer = Schema<"Customer">;
type CustomerStatus = Schema<"CustomerStatus">;

function toCustomer(row: Selectable<CustomersTable>): Customer {
  return {
    id: row.id,
    phone: row.phone,
    name: row.name,
    email: row.email,
    address: row.address,
    carrier: row.carrier,
    status: row.status as CustomerStatus,
    debt: Number(row.debt),
    note: row.note,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

function phoneOrThrow(input: string): string {
  const phone = normalizePhone(input);
  if (phone === null) {
    throw new ApiError("VALIDATION_FAILED", `body.phone: "${input}" is not a Vietnamese phone number`, {
      details: [
        {
          path: ["body", "phone"],
          message: "is not a Vietnamese mobile (10 digits) or landline (11 digits) number",
        },
      ],
      nothingSent: true,
    });
  }
  return phone;
}

/** A unique violation on the phone becomes 409 naming the customer who has it. */
async function phoneConflict(db: Kysely<Database>, phone: string, error: unknown): Promise<never> {
  if (pgCode(error) !== "23505") {
    throw error;
  }
  const owner = await db.selectFrom("customers").select("id").where("phone", "=", phone).executeTakeFirst();
  const who = owner === undefined ? "Another customer" : `Customer ${owner.id}`;
  throw new ApiError("CUSTOMER_PHONE_EXISTS", `${who} already has the phone number ${phone}.`, {
    details: [
      {
        path: ["body", "phone"],
        message: owner === undefined ? "already used" : `already used by customer ${owner.id}`,
      },
    ],
    nothingSent: true,
  });
}

function notFound(id: number): ApiError {
  return new ApiError("CUSTOMER_NOT_FOUND", `Customer ${id} does not exist.`, { nothingSent: true });
}

/** `%`, `_` and `\` match literally in a LIKE pattern. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/** GET /api/customers: newest first; `q` matches phone digits (prefix or suffix) or the name. */
export const listCustomers: NodeHandler<"listCustomers"> = async (input, deps) => {
  const { q, status } = input.query;
  const page = input.query.page ?? 1;
  const limit = input.query.limit ?? 20;
  return withDatabase(async () => {
    let query = deps.db.selectFrom("customers");
    if (status !== undefined) {
      query = query.where("status", "=", status);
    }
    if (q !== undefined) {
      const digits = phoneDigits(q);
      if (/^\d+$/.test(digits)) {
        const pattern = likeLiteral(digits);
        query = query.where((eb) =>
          eb.or([eb("phone", "like", `${pattern}%`), eb("phone", "like", `%${pattern}`)]),
        );
      } else {
        query = query.where(sql<boolean>`lower(name) LIKE ${`%${likeLiteral(q.toLowerCase())}%`}`);
      }
    }
    const [rows, count] = await Promise.all([
      query
        .selectAll()
        .orderBy("created_at", "desc")
        .orderBy("id", "desc")
        .limit(limit)
        .offset((page - 1) * limit)
        .execute(),
      query.select((eb) => eb.fn.countAll<string | number>().as("total")).executeTakeFirstOrThrow(),
    ]);
    return { status: 200, body: { items: rows.map(toCustomer), page, limit, total: Number(count.total) } };
  });
};

/** POST /api/customers: a new customer with a normalised, unique phone. */
export const createCustomer: NodeHandler<"createCustomer"> = async (input, deps) => {
  const body = input.body;
  const phone = phoneOrThrow(body.phone);
  return withDatabase(async () => {
    const row = await deps.db
      .insertInto("customers")
      .values({
        phone,
        name: body.name.trim(),
        email: body.email ?? null,
        address: body.address ?? null,
        carrier: carrierOf(phone),
        status: body.status ?? "normal",
        debt: body.debt ?? 0,
        note: body.note ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch((error: unknown) => phoneConflict(deps.db, phone, error));
    return { status: 201, headers: { location: `/api/customers/${row.id}` }, body: toCustomer(row) };
  });
};

/** GET /api/customers/{id}. */
export const getCustomer: NodeHandler<"getCustomer"> = async (input, deps) =>
  withDatabase(async () => {
    const row = await deps.db
      .selectFrom("customers")
      .selectAll()
      .where("id", "=", input.path.id)
      .executeTakeFirst();
    if (row === undefined) {
      throw notFound(input.path.id);
    }
    return { status: 200, body: toCustomer(row) };
  });

/** PATCH /api/customers/{id}: sets the given fields; a new phone is normalised and stays unique. */
export const updateCustomer: NodeHandler<"updateCustomer"> = async (input, deps) => {
  const body = input.body;
  const changes: Record<string, unknown> = {};
  let phone: string | undefined;
  if (body.phone !== undefined) {
    phone = phoneOrThrow(body.phone);
    changes.phone = phone;
    changes.carrier = carrierOf(phone);
  }
  if (body.name !== undefined) {
    changes.name = body.name.trim();
  }
  for (const field of ["email", "address", "status", "debt", "note"] as const) {
    if (body[field] !== undefined) {
      changes[field] = body[field];
    }
  }
  return withDatabase(async () => {
    const row = await deps.db
      .updateTable("customers")
      .set({ ...changes, updated_at: sql<Date>`now()` })
      .where("id", "=", input.path.id)
      .returningAll()
      .executeTakeFirst()
      .catch((error: unknown) => phoneConflict(deps.db, phone ?? "", error));
    if (row === undefined) {
      throw notFound(input.path.id);
    }
    return { status: 200, body: toCustomer(row) };
  });
};

/** DELETE /api/customers/{id}. */
export const deleteCustomer: NodeHandler<"deleteCustomer"> = async (input, deps) =>
  withDatabase(async () => {
    const result = await deps.db.deleteFrom("customers").where("id", "=", input.path.id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) {
      throw notFound(input.path.id);
    }
    return { status: 204 };
  });
