/**
 * The credentials every fake accepts by default, so gateway tests can log in without wiring
 * anything. None of these are real secrets; the page ids are the shop's public Facebook page ids
 * so URL shapes (Referer by page id, conversation ids) match production.
 */
import { fakeJwt } from "./server.js";

const PANCAKE_USER_ID = "5f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const PAGE_STORE = "270136663390370";
const PAGE_HOUSE = "117267091364524";

/** Seeded credentials shared by the fakes and by `startAllFakes()`. */
export const FAKE_CREDENTIALS = {
  tpos: { username: "n2store-test", password: "test-password", clientId: "tmtWebApp" },
  /** The shop's second company's TPOS account (TPOS_USERNAME_2 / TPOS_PASSWORD_2). */
  tposCompany2: { username: "n2store-test-2", password: "test-password-2" },
  pancake: {
    userId: PANCAKE_USER_ID,
    // Claims mirror the captured Pancake JWT (uid, fb_id, session_id…); exp far away so gateways
    // that decode it never consider it stale.
    jwt: fakeJwt({
      name: "N2 Test",
      uid: PANCAKE_USER_ID,
      application: 1,
      session_id: "fake-session-0001",
      fb_id: "100000000000001",
      fb_name: "N2 Test",
      login_session: "fake-login-0001",
      iat: 1_778_800_000,
      exp: 4_102_444_800,
    }),
  },
  /** Page ids known to Pancake, pages.fm, Phoenix and Graph. */
  pageIds: [PAGE_STORE, PAGE_HOUSE] as const,
  /** pages.fm public-API `page_access_token` per page. */
  pageAccessTokens: {
    [PAGE_STORE]: `pat-${PAGE_STORE}-fake`,
    [PAGE_HOUSE]: `pat-${PAGE_HOUSE}-fake`,
  } as Record<string, string>,
  /** Graph API page access tokens per page. */
  graphPageTokens: {
    [PAGE_STORE]: `EAAGfake${PAGE_STORE}`,
    [PAGE_HOUSE]: `EAAGfake${PAGE_HOUSE}`,
  } as Record<string, string>,
  psids: {
    /** Last inbound message 1 hour ago: RESPONSE works. */
    inWindow: "24000000000000001",
    /** Last inbound 3 days ago: only MESSAGE_TAG + HUMAN_AGENT works. */
    outsideWindow: "24000000000000002",
    /** Last inbound 10 days ago: nothing works. */
    beyondHumanAgent: "24000000000000003",
  },
} as const;

/**
 * The password grant of the fake TPOS's seeded account, form-encoded as the shop's pages send it to
 * POST /api/token; `extra` adds fields (a client_id).
 */
export function tposPasswordGrant(extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: "password",
    username: FAKE_CREDENTIALS.tpos.username,
    password: FAKE_CREDENTIALS.tpos.password,
    ...extra,
  });
}
