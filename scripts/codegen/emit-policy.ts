/** generated/policy.ts: the compact routing table the SDK ships to browsers. */
import type { OperationRow } from "./spec.js";
import { BANNER, literal } from "./text.js";

/** The methods the SDK's policy table has a digit for, in its order. */
const POLICY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

export function policyModule(rows: OperationRow[]): string {
  // Bits: 1 served by the edge, 2 served by the Node server, 4 idempotent, 8 accepts Idempotency-Key.
  // One hex digit per method of POLICY_METHODS, by path template (0: no such operation; trailing
  // zeros dropped): half the bytes of one entry per operation, and this table ships to browsers.
  const byPath = new Map<string, number[]>();
  for (const row of rows) {
    const index = POLICY_METHODS.indexOf(row.method as (typeof POLICY_METHODS)[number]);
    if (index < 0) {
      throw new Error(`${row.operationId}: the SDK's policy table has no digit for ${row.method}`);
    }
    const digits = byPath.get(row.path) ?? [0, 0, 0, 0, 0];
    digits[index] =
      (row.runtimes.includes("edge") ? 1 : 0) |
      (row.runtimes.includes("node") ? 2 : 0) |
      (row.idempotent ? 4 : 0) |
      (row.acceptsIdempotencyKey ? 8 : 0);
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
  const catchAll = [...new Set(rows.filter((row) => row.catchAll !== null).map((row) => row.path))];
  return `${BANNER}/** The methods of OPERATION_FLAGS's digits, in order. */
export const POLICY_METHODS: readonly string[] = ${literal(POLICY_METHODS)};

/**
 * What the SDK needs to route a call, by path template: one hex digit per method of
 * POLICY_METHODS (0 or missing: no such operation), each a sum of bit flags: 1 served by the
 * edge, 2 served by the Node server, 4 idempotent (x-idempotent), 8 accepts an Idempotency-Key.
 * Kept compact because it ships to browsers.
 */
export const OPERATION_FLAGS: Readonly<Record<string, string>> = {
${entries.join("\n")}
};

/** Path templates whose last parameter is a catch-all: its value keeps its slashes. */
export const CATCH_ALL_PATHS: readonly string[] = ${literal(catchAll)};
`;
}
