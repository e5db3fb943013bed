import type { OperationSpec } from "@n2store/generated";
import type { Config } from "./config.js";
import { secretIn } from "./crypto.js";
import { ApiError } from "./errors.js";

function unauthorized(message: string): ApiError {
  return new ApiError("UNAUTHORIZED", message, { nothingSent: true });
}

/** Checks the operation's security requirements (OR of alternatives) against the request headers. */
export async function authorize(
  operation: OperationSpec,
  headers: Readonly<Record<string, string>>,
  config: Config,
): Promise<void> {
  if (operation.security.length === 0) {
    return;
  }
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
    if (!(await secretIn(match[1].trim(), [config.sepayApiKey]))) {
      throw unauthorized("The SePay API key is wrong.");
    }
    return;
  }
  await requireApiKey(headers, config);
}

/**
 * Checks the caller's N2Store API key (`x-api-key` or `Authorization: Bearer`) in constant time:
 * the operations' `apiKey` security, and a handler that needs a key for one form of its input.
 */
export async function requireApiKey(
  headers: Readonly<Record<string, string>>,
  config: Config,
): Promise<void> {
  if (config.apiKeys.length === 0) {
    throw unauthorized(
      "No API keys are configured on this server (N2STORE_API_KEYS), so this operation refuses every call.",
    );
  }
  const bearer = /^bearer\s+(.+)$/i.exec(headers.authorization ?? "")?.[1]?.trim();
  const given = headers["x-api-key"]?.trim() || bearer;
  if (given === undefined || given === "") {
    throw unauthorized("This operation needs an API key: send it as x-api-key or Authorization: Bearer.");
  }
  if (!(await secretIn(given, config.apiKeys))) {
    throw unauthorized("The API key is not valid.");
  }
}
