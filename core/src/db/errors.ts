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
export function isUnavailable(error: unknown): boolean {
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

/** Runs a database call; an unreachable database becomes 503 DATABASE_UNAVAILABLE. */
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
    throw error;
  }
}
