import type { Schema } from "@n2store/generated";
import { clientKey, requireApiKey } from "../auth.js";
import { canonicalJson, sha256Hex } from "../crypto.js";
import type { SharedDeps, SharedHandler } from "../deps.js";
import { ApiError } from "../errors.js";
import { limitFailures, tooManyFailures } from "../limits/failure-limiter.js";
import { callUpstream, joinUrl, readJson } from "../upstream.js";

type TokenRequest = Schema<"TokenRequest">;
type TokenResponse = Schema<"TokenResponse">;

/** The cache key of a credential: a hash, so the password never sits in memory as a key. */
export function credentialKey(grant: TokenRequest): Promise<string> {
  const clientId = grant.client_id ?? "tmtWebApp";
  // A JSON array, not a joined string: no choice of username and password can collide with another.
  return sha256Hex(
    canonicalJson(
      grant.grant_type === "password"
        ? ["password", clientId, grant.username, grant.password]
        : ["refresh_token", clientId, grant.refresh_token],
    ),
  );
}

function isTokenResponse(value: unknown): value is TokenResponse {
  const token = value as Partial<TokenResponse> | null;
  return (
    typeof token === "object" &&
    token !== null &&
    typeof token.access_token === "string" &&
    token.access_token !== "" &&
    typeof token.expires_in === "number" &&
    Number.isFinite(token.expires_in)
  );
}

/** One password or refresh grant against TPOS `/token`; never cached when it fails. */
async function requestToken(grant: TokenRequest, deps: SharedDeps): Promise<TokenResponse> {
  const { config } = deps;
  const form = new URLSearchParams();
  form.set("grant_type", grant.grant_type);
  if (grant.grant_type === "password") {
    form.set("username", grant.username);
    form.set("password", grant.password);
    if (grant.scope !== undefined) {
      form.set("scope", grant.scope);
    }
  } else {
    form.set("refresh_token", grant.refresh_token);
  }
  form.set("client_id", grant.client_id ?? "tmtWebApp");
  const origin = config.tposBaseUrl.origin;
  const response = await callUpstream(
    deps.upstream,
    {
      url: joinUrl(config.tposBaseUrl, "/token"),
      method: "POST",
      // Only what TPOS expects: forwarding a browser's headers made TPOS answer 400.
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json, text/plain, */*",
        origin,
        referer: `${origin}/`,
        tposappversion: deps.tposAppVersion.value,
        "x-tpos-lang": "vi",
      },
      body: form.toString(),
      timeoutMs: config.upstreamTimeoutMs,
      maxBodyBytes: 64 * 1024,
      guarded: false,
      // No caller's abort signal: concurrent callers with this credential share this one request.
    },
    "TPOS",
  );
  deps.tposAppVersion.learn(response.headers.tposappversion);
  const body = await readJson(response, "TPOS", 64 * 1024).catch((error: unknown) => {
    if (response.status >= 400) {
      return null;
    }
    throw error;
  });
  if (response.status >= 400 && response.status < 500) {
    const refusal = (body ?? {}) as { error?: unknown; error_description?: unknown };
    const description =
      typeof refusal.error_description === "string" ? refusal.error_description : "no reason given";
    throw new ApiError("TPOS_TOKEN_REJECTED", `TPOS refused the credentials: ${description}`, {
      details: [
        { message: description, code: typeof refusal.error === "string" ? refusal.error : response.status },
      ],
      nothingSent: true,
    });
  }
  if (response.status >= 500 || response.status < 200 || response.status >= 300) {
    throw new ApiError("UPSTREAM_ERROR", `TPOS answered ${response.status} to the token request.`);
  }
  if (!isTokenResponse(body)) {
    throw new ApiError("UPSTREAM_BAD_RESPONSE", "TPOS answered the token request without an access token.");
  }
  return body;
}

/** A JSON body that names a company instead of a grant: the shop's own account for it. */
function isCompanyRequest(body: Schema<"TokenJsonRequest">): body is Schema<"CompanyTokenRequest"> {
  return !("grant_type" in body);
}

/**
 * The password grant of the shop's own account for `companyId`, after checking the caller's N2Store
 * API key: this mints a token for the shop, so only a caller holding a key may have one.
 */
async function companyGrant(
  request: Schema<"CompanyTokenRequest">,
  headers: Readonly<Record<string, string>>,
  deps: SharedDeps,
): Promise<TokenRequest> {
  await requireApiKey(headers, deps);
  const company = Number(request.companyId ?? 1);
  const account = deps.config.tposAccounts.get(company);
  if (account === undefined) {
    const names =
      company === 1
        ? "TPOS_USERNAME and TPOS_PASSWORD"
        : `TPOS_USERNAME_${company} and TPOS_PASSWORD_${company} (or TPOS_PASSWORD)`;
    throw new ApiError(
      "TPOS_ACCOUNT_NOT_CONFIGURED",
      `No TPOS account is configured for company ${company}: set ${names}.`,
      { nothingSent: true },
    );
  }
  return {
    grant_type: "password",
    username: account.username,
    password: account.password,
    client_id: account.clientId,
  };
}

/**
 * POST /api/token: a TPOS token for these credentials, from the per-credential cache (valid until
 * five minutes before expiry) or from one upstream call shared by concurrent misses. A JSON
 * `{companyId}` uses the account the server holds for that company (with an API key only).
 */
export const createTposToken: SharedHandler<"createTposToken"> = async (input, deps) => {
  const grant = isCompanyRequest(input.body)
    ? await companyGrant(input.body, input.rawHeaders, deps)
    : input.body;
  const key = await credentialKey(grant);
  // A client that had too many passwords refused waits, cached credentials or not.
  const wait = await deps.failures.retryAfter(clientKey(deps));
  if (wait > 0) {
    throw tooManyFailures(wait);
  }
  // Only a call TPOS would answer counts, against the client and against the username (a guess at
  // one account spread over many addresses); a cached token for that username is still served.
  const keys =
    grant.grant_type === "password"
      ? [clientKey(deps), `tpos-user:${await sha256Hex(grant.username.toLowerCase())}`]
      : [clientKey(deps)];
  const { token, cached } = await deps.tokens.getOrFetch(key, () =>
    limitFailures(deps.failures, keys, () => requestToken(grant, deps)),
  );
  return {
    status: 200,
    headers: { "cache-control": "no-store", "x-token-cache": cached ? "hit" : "miss" },
    body: token,
  };
};
