import { type AllFakes, FAKE_CREDENTIALS } from "../fakes/index.js";

/** The API key test servers accept (N2STORE_API_KEYS). */
export const API_KEY = "test-key-0123456789";
/** SePay's key on test servers (SEPAY_API_KEY). */
export const SEPAY_KEY = "sepay-key-0123456789";

/**
 * The gateway configuration for a set of fakes, the same for both runtimes: upstream URLs, keys,
 * and the fake CDN allowed to the proxy routes by exact address and port.
 */
export function gatewayEnv(fakes: AllFakes, extra: Record<string, string> = {}): Record<string, string> {
  const cdn = new URL(fakes.cdn.url);
  return {
    ...fakes.env,
    N2STORE_API_KEYS: API_KEY,
    // The shop's own TPOS accounts for `POST /api/token` with {companyId}.
    TPOS_USERNAME: FAKE_CREDENTIALS.tpos.username,
    TPOS_PASSWORD: FAKE_CREDENTIALS.tpos.password,
    TPOS_USERNAME_2: FAKE_CREDENTIALS.tposCompany2.username,
    TPOS_PASSWORD_2: FAKE_CREDENTIALS.tposCompany2.password,
    SEPAY_API_KEY: SEPAY_KEY,
    PROXY_ALLOWED_HOSTS: `${cdn.hostname}:${cdn.port}`,
    UPSTREAM_TIMEOUT_MS: "3000",
    // Test clients speak from loopback and may say which address they are (X-Forwarded-For).
    TRUST_PROXY: "127.0.0.1,::1",
    ...extra,
  };
}
