import type { OperationSpec } from "@n2store/generated";
import { secretIn } from "./crypto.js";
import type { SharedDeps } from "./deps.js";
import { ApiError } from "./errors.js";
import { limitFailures } from "./limits/failure-limiter.js";

/** What a credential check needs: the configured keys, and the failure limiter with the caller's address. */
export type AuthDeps = Pick<SharedDeps, "config" | "failures" | "clientAddress">;

function unauthorized(message: string): ApiError {
  return new ApiError("UNAUTHORIZED", message, { nothingSent: true });
}

/** The limiter's key for a client: its address (behind TRUST_PROXY, or Cloudflare's CF-Connecting-IP). */
export function clientKey(deps: Pick<SharedDeps, "clientAddress">): string {
  return `addr:${deps.clientAddress ?? "unknown"}`;
}

/**
 * Compares a presented secret with the accepted ones in constant time, under the failure limiter: a
 * client that presented about 20 wrong ones in a minute is refused with 429 before the comparison,
 * so guessing cannot go on at full speed. A missing secret is not a guess and is not counted.
 */
async function checkSecret(
  given: string,
  accepted: readonly string[],
  deps: AuthDeps,
  wrong: string,
): Promise<void> {
  await limitFailures(deps.failures, [clientKey(deps)], async () => {
    if (!(await secretIn(given, accepted))) {
      throw unauthorized(wrong);
    }
  });
}

/** Checks the operation's security requirements (OR of alternatives) against the request headers. */
export async function authorize(
  operation: OperationSpec,
  headers: Readonly<Record<string, string>>,
  deps: AuthDeps,
): Promise<void> {
  if (operation.security.length === 0) {
    return;
  }
  const { config } = deps;
  const schemes = new Set(operation.security.flat());
  if (schemes.has("sepayApiKey")) {
    if (config.sepayApiKey === null) {
      throw new ApiError(
        "SEPAY_NOT_CONFIGURED",
        "SEPAY_API_KEY is not configured; the webhook refuses every call until it is.",
        { headers: { "retry-after": "60" }, nothingSent: true },
      );
    }
    const match = /^apikey\s+(.+)$/i.exec(headers.authorization ?? "");
    if (match?.[1] === undefined) {
      throw unauthorized("SePay must send Authorization: Apikey <key>.");
    }
    await checkSecret(match[1].trim(), [config.sepayApiKey], deps, "The SePay API key is wrong.");
    return;
  }
  await requireApiKey(headers, deps);
}

/**
 * Checks the caller's N2Store API key (`x-api-key` or `Authorization: Bearer`) in constant time:
 * the operations' `apiKey` security, and a handler that needs a key for one form of its input.
 */
export async function requireApiKey(
  headers: Readonly<Record<string, string>>,
  deps: AuthDeps,
): Promise<void> {
  if (deps.config.apiKeys.length === 0) {
    throw unauthorized(
      "No API keys are configured on this server (N2STORE_API_KEYS), so this operation refuses every call.",
    );
  }
  const bearer = /^bearer\s+(.+)$/i.exec(headers.authorization ?? "")?.[1]?.trim();
  const given = headers["x-api-key"]?.trim() || bearer;
  if (given === undefined || given === "") {
    throw unauthorized("This operation needs an API key: send it as x-api-key or Authorization: Bearer.");
  }
  await checkSecret(given, deps.config.apiKeys, deps, "The API key is not valid.");
}
