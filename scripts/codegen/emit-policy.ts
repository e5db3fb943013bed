/** generated/policy.ts: the compact routing table the SDK ships to browsers. */
import type { OperationRow } from "./spec.js";
import { BANNER, literal } from "./text.js";

/** The methods the SDK's policy table has a digit for, in its order. */
const POLICY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

/**
 * The bit flags of one table digit. Defined once here, used to compute the digits and written out
 * as the `OperationFlag` enum, so that the SDK never spells a bare 1, 2, 4 or 8. An enum, not an
 * object of constants: esbuild inlines a TypeScript enum's members across modules and drops the
 * enum itself, so the names cost the browser bundle nothing.
 */
export const OPERATION_FLAG = { Edge: 1, Node: 2, Idempotent: 4, AcceptsKey: 8 } as const;

/** What each flag means to the SDK: the doc comment of its enum member. */
const FLAG_DOCS: Record<keyof typeof OPERATION_FLAG, string> = {
  Edge: "Served by the edge Worker (`x-runtimes` lists `edge`).",
  Node: "Served by the Node server (`x-runtimes` lists `node`).",
  Idempotent: "Safe to send again after it may have reached a server (`x-idempotent`, RFC 9110 §9.2.2).",
  AcceptsKey: "Takes an `Idempotency-Key`, which the servers keep: a keyed call may be sent again.",
};

/** The digit of one operation: the sum of the flags that hold for it. */
export function operationFlags(
  row: Pick<OperationRow, "runtimes" | "idempotent" | "acceptsIdempotencyKey">,
): number {
  return (
    (row.runtimes.includes("edge") ? OPERATION_FLAG.Edge : 0) |
    (row.runtimes.includes("node") ? OPERATION_FLAG.Node : 0) |
    (row.idempotent ? OPERATION_FLAG.Idempotent : 0) |
    (row.acceptsIdempotencyKey ? OPERATION_FLAG.AcceptsKey : 0)
  );
}

export function policyModule(rows: OperationRow[]): string {
  // One hex digit per method of POLICY_METHODS, by path template (0: no such operation; trailing
  // zeros dropped): half the bytes of one entry per operation, and this table ships to browsers.
  const byPath = new Map<string, number[]>();
  for (const row of rows) {
    const index = POLICY_METHODS.indexOf(row.method as (typeof POLICY_METHODS)[number]);
    if (index < 0) {
      throw new Error(`${row.operationId}: the SDK's policy table has no digit for ${row.method}`);
    }
    const digits = byPath.get(row.path) ?? [0, 0, 0, 0, 0];
    digits[index] = operationFlags(row);
    byPath.set(row.path, digits);
  }
  const entries = [...byPath].map(
    ([path, digits]) =>
      `  ${literal(path)}: ${literal(
        digits
          .map((digit) => digit.toString(16))
          .join("")
          .replace(/0+$/, ""),
      )},`,
  );
  const members = Object.entries(OPERATION_FLAG).map(
    ([name, value]) => `  /** ${FLAG_DOCS[name as keyof typeof OPERATION_FLAG]} */\n  ${name} = ${value},`,
  );
  const catchAll = [...new Set(rows.filter((row) => row.catchAll !== null).map((row) => row.path))];
  return `${BANNER}/** The methods of OPERATION_FLAGS's digits, in order. */
export const POLICY_METHODS: readonly string[] = ${literal(POLICY_METHODS)};

/** The bit flags that make up each digit of OPERATION_FLAGS. */
export enum OperationFlag {
${members.join("\n")}
}

/**
 * What the SDK needs to route a call, by path template: one hex digit per method of
 * POLICY_METHODS (0 or missing: no such operation), each a sum of OperationFlag bits.
 * Kept compact because it ships to browsers.
 */
export const OPERATION_FLAGS: Readonly<Record<string, string>> = {
${entries.join("\n")}
};

/** Path templates whose last parameter is a catch-all: its value keeps its slashes. */
export const CATCH_ALL_PATHS: readonly string[] = ${literal(catchAll)};
`;
}
