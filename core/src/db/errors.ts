import { ApiError } from "../errors.js";

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

/** Whether a database error means the database cannot be reached (rather than a bad query). */
function isUnavailable(error: unknown): boolean {
  const err = error as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === "string" ? err.code : "";
  const message = typeof err?.message === "string" ? err.message : "";
  return (
    CONNECTION_CODES.has(code) ||
    code.startsWith("08") || // connection_exception
    code.startsWith("57P") || // operator_intervention: admin_shutdown, cannot_connect_now
    code === "53300" || // too_many_connections
    /Connection terminated|connection (?:is )?closed|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
      message,
    )
  );
}

/** The PostgreSQL error code of a failed query (`23505` for a unique violation), if any. */
export function pgCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * PostgreSQL's data exceptions for a value it cannot store: a NUL character in text (22021, "invalid
 * byte sequence for encoding UTF8: 0x00") or in jsonb (22P05, "unsupported Unicode escape
 * sequence"), and a number out of a column's range (22003; 22P02 when pg sends it as "1e+30").
 * The spec lets these through (its strings allow any character, some integers have no maximum), so
 * they come from the request: a 400, not the 500 INTERNAL they used to be.
 */
const UNSTORABLE_VALUE = new Set(["22021", "22P05", "22003", "22P02"]);

/**
 * Runs a database call; an unreachable database becomes 503 DATABASE_UNAVAILABLE, and a request
 * value the database cannot store 400 VALIDATION_FAILED.
 */
export async function withDatabase<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isUnavailable(error)) {
      throw new ApiError("DATABASE_UNAVAILABLE", "The database cannot be reached; try again shortly.", {
        headers: { "retry-after": "2" },
        cause: error,
        nothingSent: true,
      });
    }
    if (UNSTORABLE_VALUE.has(pgCode(error) ?? "")) {
      throw new ApiError(
        "VALIDATION_FAILED",
        "A value in the request cannot be stored: text must not contain NUL (\\u0000) characters, and numbers must fit in 64 bits.",
        { cause: error, nothingSent: true },
      );
    }
    throw error;
  }
}
