import type { OperationInput, Schema } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import { type Env, loadConfig } from "../config.js";
import type { SharedDeps } from "../deps.js";
import { type ApiError, isApiError } from "../errors.js";
import { silentLogger } from "../ports/runtime.js";
import { UpstreamFailure } from "../ports/upstream.js";
import { FakeUpstream } from "../testing/fake-upstream.js";
import { TposAppVersion } from "../tpos/app-version.js";
import { TokenCache } from "../tpos/token-cache.js";
import { graphError, sendFacebookMessage } from "./facebook-send.js";

type SendRequest = Schema<"FacebookSendRequest">;

const PAGE = "270136663390370";
const PSID = "9484319011642026";
const SEND_URL = `https://graph.facebook.com/v26.0/${PAGE}/messages`;

function testDeps(upstream: FakeUpstream, env: Env = {}): SharedDeps {
  const config = loadConfig(env);
  const clock = { now: () => Date.UTC(2026, 10, 25) };
  return {
    config,
    upstream,
    clock,
    log: silentLogger,
    requestId: "req-1",
    runtime: "edge",
    tokens: new TokenCache(clock),
    tposAppVersion: new TposAppVersion(config.tposAppVersion),
    idempotency: null,
    describeRuntime: async () => ({}),
  };
}

function input(body: Partial<SendRequest> = {}): OperationInput<"sendFacebookMessage"> {
  return {
    path: {},
    query: {},
    headers: {},
    body: { pageId: PAGE, psid: PSID, message: "Dạ shop chào chị ạ", pageToken: "EAAG-page-token", ...body },
    rawQuery: "",
    rawHeaders: {},
  };
}

function envelope(code: number, subcode?: number, message = "(#x) something") {
  return {
    error: {
      message,
      type: "OAuthException",
      code,
      ...(subcode === undefined ? {} : { error_subcode: subcode }),
      fbtrace_id: "AbC",
    },
  };
}

async function thrown(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (isApiError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error("did not throw");
}

describe("graphError", () => {
  it("maps 190 to 401 FB_PAGE_TOKEN_INVALID with Graph's code and subcode in details", () => {
    const error = graphError(400, envelope(190, 463, "Error validating access token"), undefined);
    expect(error.code).toBe("FB_PAGE_TOKEN_INVALID");
    expect(error.status).toBe(401);
    expect(error.details).toEqual([{ message: "Error validating access token", code: 190, subcode: 463 }]);
    expect(error.nothingSent).toBe(true);
  });

  it("maps 10/2018278 to 403 FB_OUTSIDE_WINDOW and suggests HUMAN_AGENT", () => {
    const error = graphError(400, envelope(10, 2018278), undefined);
    expect(error.code).toBe("FB_OUTSIDE_WINDOW");
    expect(error.status).toBe(403);
    expect(error.message).toContain("HUMAN_AGENT");
    expect(error.details).toEqual([{ message: "(#x) something", code: 10, subcode: 2018278 }]);
  });

  it("maps 10/1893063 to FB_PERMISSION_DENIED (page restricted)", () => {
    const error = graphError(400, envelope(10, 1893063), undefined);
    expect(error.code).toBe("FB_PERMISSION_DENIED");
    expect(error.message).toContain("restricted");
  });

  it.each([10, 200, 230, 299])("maps %i without a known subcode to 403 FB_PERMISSION_DENIED", (code) => {
    const error = graphError(403, envelope(code), undefined);
    expect(error.code).toBe("FB_PERMISSION_DENIED");
    expect(error.status).toBe(403);
  });

  it("maps 551 to 403 FB_RECIPIENT_UNAVAILABLE", () => {
    const error = graphError(400, envelope(551, 1545041), undefined);
    expect(error.code).toBe("FB_RECIPIENT_UNAVAILABLE");
    expect(error.status).toBe(403);
    expect(error.nothingSent).toBe(true);
  });

  it.each([613, 4, 32, 80006])("maps %i to 429 FB_RATE_LIMITED with Retry-After", (code) => {
    const error = graphError(400, envelope(code), undefined);
    expect(error.code).toBe("FB_RATE_LIMITED");
    expect(error.status).toBe(429);
    expect(error.headers).toEqual({ "retry-after": "60" });
  });

  it.each(["POST_PURCHASE_UPDATE", "CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE"] as const)(
    "maps 100 for the deprecated tag %s to FB_INVALID_REQUEST naming the tag and 2026-04-27",
    (tag) => {
      const error = graphError(400, envelope(100, undefined, "(#100) Invalid parameter"), tag);
      expect(error.code).toBe("FB_INVALID_REQUEST");
      expect(error.status).toBe(400);
      expect(error.message).toContain(tag);
      expect(error.message).toContain("2026-04-27");
      expect(error.details).toEqual([{ message: "(#100) Invalid parameter", code: 100 }]);
    },
  );

  it("maps 100 with HUMAN_AGENT to FB_INVALID_REQUEST quoting Graph, not the deprecation", () => {
    const error = graphError(
      400,
      envelope(100, undefined, "(#100) Param message must be non-empty"),
      "HUMAN_AGENT",
    );
    expect(error.code).toBe("FB_INVALID_REQUEST");
    expect(error.message).not.toContain("2026-04-27");
    expect(error.message).toContain("(#100) Param message must be non-empty");
  });

  it("maps 100/2018001 to FB_INVALID_REQUEST about the unknown PSID", () => {
    const error = graphError(400, envelope(100, 2018001), undefined);
    expect(error.code).toBe("FB_INVALID_REQUEST");
    expect(error.message).toContain("PSID");
  });

  it.each([2, 1])("maps %i to 502 FB_UPSTREAM_ERROR without nothingSent (the message may be out)", (code) => {
    const error = graphError(500, envelope(code, undefined, "An unexpected error has occurred."), undefined);
    expect(error.code).toBe("FB_UPSTREAM_ERROR");
    expect(error.status).toBe(502);
    expect(error.nothingSent).toBe(false);
    expect(error.details).toEqual([{ message: "An unexpected error has occurred.", code }]);
  });

  it.each([null, "Bad Gateway", { success: false }, { error: "text" }])(
    "maps a body without Graph's envelope (%j) to FB_UPSTREAM_ERROR naming the status",
    (body) => {
      const error = graphError(503, body, undefined);
      expect(error.code).toBe("FB_UPSTREAM_ERROR");
      expect(error.details).toEqual([{ message: "Facebook answered 503" }]);
    },
  );
});

describe("sendFacebookMessage", () => {
  const sent = { recipient_id: PSID, message_id: "m_AG5Hz2Uq7qBv3W" };

  it("posts a RESPONSE to /{version}/{pageId}/messages with the page token in the query", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: sent });
    const result = await sendFacebookMessage(input({ useTag: false }), testDeps(upstream));
    const [request] = upstream.requests;
    expect(request?.url).toBe(`${SEND_URL}?access_token=EAAG-page-token`);
    expect(request?.method).toBe("POST");
    expect(request?.headers).toEqual({ "content-type": "application/json", accept: "application/json" });
    expect(JSON.parse(request?.body ?? "")).toEqual({
      recipient: { id: PSID },
      message: { text: "Dạ shop chào chị ạ" },
      messaging_type: "RESPONSE",
    });
    expect(result).toEqual({
      status: 200,
      body: { recipient_id: PSID, message_id: "m_AG5Hz2Uq7qBv3W", messaging_type: "RESPONSE" },
    });
  });

  it("uses FACEBOOK_GRAPH_VERSION and FACEBOOK_GRAPH_BASE_URL", async () => {
    const url = `http://127.0.0.1:4300/v21.0/${PAGE}/messages`;
    const upstream = new FakeUpstream().on(url, { json: sent });
    await sendFacebookMessage(
      input(),
      testDeps(upstream, {
        FACEBOOK_GRAPH_BASE_URL: "http://127.0.0.1:4300",
        FACEBOOK_GRAPH_VERSION: "v21.0",
      }),
    );
    expect(upstream.requests[0]?.url).toBe(`${url}?access_token=EAAG-page-token`);
  });

  it("escapes a page token with URL characters in the query", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: sent });
    await sendFacebookMessage(input({ pageToken: "a&b=c d" }), testDeps(upstream));
    expect(new URL(upstream.requests[0]?.url ?? "").searchParams.get("access_token")).toBe("a&b=c d");
  });

  it("sends MESSAGE_TAG with HUMAN_AGENT by default when useTag is true", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: sent });
    const result = await sendFacebookMessage(input({ useTag: true }), testDeps(upstream));
    expect(JSON.parse(upstream.requests[0]?.body ?? "")).toMatchObject({
      messaging_type: "MESSAGE_TAG",
      tag: "HUMAN_AGENT",
    });
    expect(result.body).toEqual({
      recipient_id: PSID,
      message_id: "m_AG5Hz2Uq7qBv3W",
      messaging_type: "MESSAGE_TAG",
      tag: "HUMAN_AGENT",
    });
  });

  it("sends the tag the caller asked for, never swapping it", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: sent });
    await sendFacebookMessage(input({ useTag: true, tag: "CUSTOMER_FEEDBACK" }), testDeps(upstream));
    expect(JSON.parse(upstream.requests[0]?.body ?? "").tag).toBe("CUSTOMER_FEEDBACK");
  });

  it("reports Graph's refusal of POST_PURCHASE_UPDATE clearly", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, {
      status: 400,
      json: envelope(100, undefined, "(#100) Invalid parameter"),
    });
    const error = await thrown(
      sendFacebookMessage(input({ useTag: true, tag: "POST_PURCHASE_UPDATE" }), testDeps(upstream)),
    );
    expect(error.code).toBe("FB_INVALID_REQUEST");
    expect(error.message).toContain("POST_PURCHASE_UPDATE");
    expect(JSON.parse(upstream.requests[0]?.body ?? "").tag).toBe("POST_PURCHASE_UPDATE");
    expect(upstream.requests).toHaveLength(1);
  });

  it("refuses a tag without useTag before calling Graph", async () => {
    const upstream = new FakeUpstream();
    const error = await thrown(sendFacebookMessage(input({ tag: "HUMAN_AGENT" }), testDeps(upstream)));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details).toEqual([{ path: ["body", "tag"], message: "is used only with useTag: true" }]);
    expect(error.nothingSent).toBe(true);
    expect(upstream.requests).toHaveLength(0);
  });

  it("refuses a tag with useTag false", async () => {
    const upstream = new FakeUpstream();
    const error = await thrown(
      sendFacebookMessage(input({ useTag: false, tag: "HUMAN_AGENT" }), testDeps(upstream)),
    );
    expect(error.code).toBe("VALIDATION_FAILED");
  });

  it("maps Graph's 190 to FB_PAGE_TOKEN_INVALID", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { status: 400, json: envelope(190) });
    expect((await thrown(sendFacebookMessage(input(), testDeps(upstream)))).code).toBe(
      "FB_PAGE_TOKEN_INVALID",
    );
  });

  it("maps a Graph 500 with an HTML body to FB_UPSTREAM_ERROR", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { status: 500, body: "<html>oops</html>" });
    const error = await thrown(sendFacebookMessage(input(), testDeps(upstream)));
    expect(error.code).toBe("FB_UPSTREAM_ERROR");
    expect(error.nothingSent).toBe(false);
  });

  it.each([
    ["without message_id", { recipient_id: PSID }],
    ["with a numeric message_id", { message_id: 5 }],
    ["that is null", null],
  ])("maps a 200 %s to UPSTREAM_BAD_RESPONSE", async (_what, json) => {
    const upstream = new FakeUpstream().on(SEND_URL, { json });
    const error = await thrown(sendFacebookMessage(input(), testDeps(upstream)));
    expect(error.code).toBe("UPSTREAM_BAD_RESPONSE");
    expect(error.status).toBe(502);
  });

  it("maps a 200 that is not JSON to UPSTREAM_BAD_RESPONSE", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { body: "ok" });
    expect((await thrown(sendFacebookMessage(input(), testDeps(upstream)))).code).toBe(
      "UPSTREAM_BAD_RESPONSE",
    );
  });

  it("leaves recipient_id out when Graph gives none", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: { message_id: "m_1" } });
    const result = await sendFacebookMessage(input(), testDeps(upstream));
    expect(result.body).toEqual({ message_id: "m_1", messaging_type: "RESPONSE" });
  });

  it("maps a refused connection to UPSTREAM_UNREACHABLE with nothingSent, and a timeout without", async () => {
    const refused = new FakeUpstream().on(SEND_URL, new UpstreamFailure("unreachable", "ECONNREFUSED"));
    const slow = new FakeUpstream().on(SEND_URL, new UpstreamFailure("timeout", "headers timeout"));
    const first = await thrown(sendFacebookMessage(input(), testDeps(refused)));
    const second = await thrown(sendFacebookMessage(input(), testDeps(slow)));
    expect([first.code, first.nothingSent]).toEqual(["UPSTREAM_UNREACHABLE", true]);
    expect([second.code, second.status, second.nothingSent]).toEqual(["UPSTREAM_TIMEOUT", 504, false]);
  });

  it("never puts the page token in an error message or details", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { status: 400, json: envelope(190) });
    const error = await thrown(sendFacebookMessage(input(), testDeps(upstream)));
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(
      "EAAG-page-token",
    );
  });
});
