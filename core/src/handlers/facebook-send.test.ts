import type { OperationInput, Schema } from "@n2store/generated";
import { describe, expect, it } from "vitest";
import type { Env } from "../config.js";
import type { SharedDeps } from "../deps.js";
import { toErrorBody } from "../errors.js";
import type { CallProgress } from "../idempotency/progress.js";
import { UpstreamFailure } from "../ports/upstream.js";
import { testDeps as sharedTestDeps } from "../testing/deps.js";
import { thrown } from "../testing/errors.js";
import { type FakeReply, FakeUpstream } from "../testing/fake-upstream.js";
import { sendFacebookMessage } from "./facebook-send.js";
import { graphError } from "./graph-errors.js";

type SendRequest = Schema<"FacebookSendRequest">;

const PAGE = "270136663390370";
const PSID = "9484319011642026";
const SEND_URL = `https://graph.facebook.com/v26.0/${PAGE}/messages`;

function testDeps(upstream: FakeUpstream, env: Env = {}, progress?: CallProgress): SharedDeps {
  return sharedTestDeps({
    upstream,
    env,
    now: Date.UTC(2026, 10, 25),
    ...(progress === undefined ? {} : { extra: { progress } }),
  });
}

/** A validated input; a field given as undefined is left out. */
function input(
  body: Record<string, unknown> = {},
  headers: { "x-page-access-token"?: string } = {},
): OperationInput<"sendFacebookMessage"> {
  const full = {
    pageId: PAGE,
    psid: PSID,
    message: "Dạ shop chào chị ạ",
    pageToken: "EAAG-page-token",
    ...body,
  };
  return {
    path: {},
    query: {},
    headers,
    body: Object.fromEntries(Object.entries(full).filter(([, value]) => value !== undefined)) as SendRequest,
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

describe("graphError", () => {
  it("maps 190 to 401 FB_PAGE_TOKEN_INVALID with Graph's code and subcode in details", () => {
    const error = graphError(400, envelope(190, 463, "Error validating access token"), undefined);
    expect(error.code).toBe("FB_PAGE_TOKEN_INVALID");
    expect(error.status).toBe(401);
    expect(error.details).toEqual([{ message: "Error validating access token", code: 190, subcode: 463 }]);
    expect(error.nothingSent).toBe(true);
  });

  it("carries Graph's numbers to the body's error_code and error_subcode, which the pages read", () => {
    expect(toErrorBody(graphError(400, envelope(10, 2018278), undefined))).toMatchObject({
      success: false,
      code: "FB_OUTSIDE_WINDOW",
      error_code: 10,
      error_subcode: 2018278,
    });
    const noSubcode = toErrorBody(graphError(400, envelope(613), undefined));
    expect(noSubcode.error_code).toBe(613);
    expect(noSubcode).not.toHaveProperty("error_subcode");
    expect(toErrorBody(graphError(502, "Bad Gateway", undefined))).not.toHaveProperty("error_code");
  });

  it("maps 10900 (a comment already answered privately) to a definite FB_INVALID_REQUEST", () => {
    const error = graphError(
      400,
      envelope(10900, undefined, "(#10900) Activity already replied to"),
      undefined,
    );
    expect([error.code, error.status, error.nothingSent]).toEqual(["FB_INVALID_REQUEST", 400, true]);
    expect(error.message).toContain("already had its one private reply");
    expect(error.upstreamCode).toEqual({ code: 10900, subcode: undefined });
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

/** What a test's Graph got: each send's JSON payload, in order (the comments GETs left out). */
function sends(upstream: FakeUpstream): Record<string, unknown>[] {
  return upstream.requests
    .filter((request) => request.method === "POST")
    .map((request) => JSON.parse(request.body ?? "") as Record<string, unknown>);
}

/** A Graph Send API that accepts everything, numbering message ids m_1, m_2, ... */
function acceptingGraph(): FakeUpstream {
  let n = 0;
  return new FakeUpstream().on(SEND_URL, (request) => {
    n += 1;
    const { recipient } = JSON.parse(request.body ?? "{}") as { recipient: { id?: string } };
    return {
      json:
        recipient.id === undefined
          ? { message_id: `m_${n}` }
          : { recipient_id: recipient.id, message_id: `m_${n}` },
    };
  });
}

/** Progress as the idempotency layer hands it to a handler under a key, in memory. */
class MemoryProgress implements CallProgress {
  readonly recorded: string[] = [];
  constructor(readonly steps: Record<string, unknown> = {}) {}
  get(step: string): unknown {
    return this.steps[step];
  }
  async record(step: string, value: unknown): Promise<void> {
    this.recorded.push(step);
    this.steps[step] = JSON.parse(JSON.stringify(value));
  }
}

const IMAGES = ["https://content.pancake.vn/1/a.jpg", "https://content.pancake.vn/1/b.jpg"];
const image = (url: string) => ({ attachment: { type: "image", payload: { url, is_reusable: true } } });
/** One Send API call to the PSID under the HUMAN_AGENT tag (`useTag: true`). */
const taggedSend = (message: unknown) => ({
  recipient: { id: PSID },
  message,
  messaging_type: "MESSAGE_TAG",
  tag: "HUMAN_AGENT",
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
      body: {
        success: true,
        recipient_id: PSID,
        message_id: "m_AG5Hz2Uq7qBv3W",
        message_ids: ["m_AG5Hz2Uq7qBv3W"],
        used_tag: null,
        method: "send_api",
        messaging_type: "RESPONSE",
      },
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

  it("sends MESSAGE_TAG with HUMAN_AGENT by default when useTag is true, and says so in used_tag", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: sent });
    const result = await sendFacebookMessage(input({ useTag: true }), testDeps(upstream));
    expect(JSON.parse(upstream.requests[0]?.body ?? "")).toMatchObject({
      messaging_type: "MESSAGE_TAG",
      tag: "HUMAN_AGENT",
    });
    expect(result.body).toEqual({
      success: true,
      recipient_id: PSID,
      message_id: "m_AG5Hz2Uq7qBv3W",
      message_ids: ["m_AG5Hz2Uq7qBv3W"],
      used_tag: "HUMAN_AGENT",
      method: "send_api",
      messaging_type: "MESSAGE_TAG",
      tag: "HUMAN_AGENT",
    });
  });

  it("sends the tag the caller asked for, never swapping it", async () => {
    const upstream = new FakeUpstream().on(SEND_URL, { json: sent });
    const result = await sendFacebookMessage(
      input({ useTag: true, tag: "CUSTOMER_FEEDBACK" }),
      testDeps(upstream),
    );
    expect(JSON.parse(upstream.requests[0]?.body ?? "").tag).toBe("CUSTOMER_FEEDBACK");
    expect(result.body.used_tag).toBe("CUSTOMER_FEEDBACK");
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
    expect(result.body).not.toHaveProperty("recipient_id");
    expect(result.body).toMatchObject({ message_id: "m_1", message_ids: ["m_1"] });
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

  describe("the body the shop's pages send", () => {
    it("sends the images first, one send each, then the text, and lists every message id in order", async () => {
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({ useTag: true, imageUrls: IMAGES }),
        testDeps(upstream),
      );
      expect(sends(upstream)).toEqual([
        taggedSend(image(IMAGES[0] ?? "")),
        taggedSend(image(IMAGES[1] ?? "")),
        taggedSend({ text: "Dạ shop chào chị ạ" }),
      ]);
      expect(result.body).toMatchObject({
        success: true,
        message_id: "m_3",
        message_ids: ["m_1", "m_2", "m_3"],
        used_tag: "HUMAN_AGENT",
      });
    });

    it("sends images alone when there is no text", async () => {
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({ message: undefined, imageUrls: IMAGES }),
        testDeps(upstream),
      );
      expect(sends(upstream).map((payload) => payload.message)).toEqual(IMAGES.map(image));
      expect(result.body.message_ids).toEqual(["m_1", "m_2"]);
    });

    it("takes the token from X-Page-Access-Token when the body has none, and the body's first", async () => {
      const upstream = acceptingGraph();
      await sendFacebookMessage(
        input({ pageToken: undefined }, { "x-page-access-token": "EAAG-header" }),
        testDeps(upstream),
      );
      await sendFacebookMessage(input({}, { "x-page-access-token": "EAAG-header" }), testDeps(upstream));
      expect(
        upstream.requests.map((request) => new URL(request.url).searchParams.get("access_token")),
      ).toEqual(["EAAG-header", "EAAG-page-token"]);
    });

    it("sends a message object ({text} or an attachment) as it is", async () => {
      const upstream = acceptingGraph();
      const file = { attachment: { type: "file", payload: { url: "https://cdn.example.com/hoa-don.pdf" } } };
      await sendFacebookMessage(input({ message: { text: "Dạ", metadata: "order-17" } }), testDeps(upstream));
      await sendFacebookMessage(input({ message: file }), testDeps(upstream));
      expect(sends(upstream).map((payload) => payload.message)).toEqual([
        { text: "Dạ", metadata: "order-17" },
        file,
      ]);
    });

    it("sends to `recipient` instead of {id: psid}", async () => {
      const upstream = acceptingGraph();
      await sendFacebookMessage(
        input({ psid: undefined, recipient: { id: "24000000000000009" } }),
        testDeps(upstream),
      );
      expect(sends(upstream)[0]?.recipient).toEqual({ id: "24000000000000009" });
    });

    it("ignores the fields it does not use, and treats the pages' empty postId and customerName as absent", async () => {
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({
          useTag: true,
          imageUrls: [],
          postId: "",
          customerName: "",
          commentId: "",
          orderId: "NJD/2026/17",
        }),
        testDeps(upstream),
      );
      expect(sends(upstream)).toHaveLength(1);
      expect(result.body).toMatchObject({ success: true, used_tag: "HUMAN_AGENT", method: "send_api" });
    });
  });

  describe("private replies", () => {
    const COMMENT = "1234567890123456_998877665544332";

    it("answers `commentId` with a private reply: recipient.comment_id, no messaging_type, used_tag PRIVATE_REPLY", async () => {
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({ commentId: COMMENT, useTag: true }),
        testDeps(upstream),
      );
      expect(sends(upstream)).toEqual([
        { recipient: { comment_id: COMMENT }, message: { text: "Dạ shop chào chị ạ" } },
      ]);
      expect(result.body).toEqual({
        success: true,
        message_id: "m_1",
        message_ids: ["m_1"],
        used_tag: "PRIVATE_REPLY",
        method: "private_reply",
        comment_id: COMMENT,
      });
    });

    it("answers `recipient: {comment_id}` the same way, without a psid", async () => {
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({ psid: undefined, recipient: { comment_id: COMMENT } }),
        testDeps(upstream),
      );
      expect(sends(upstream)).toEqual([
        { recipient: { comment_id: COMMENT }, message: { text: "Dạ shop chào chị ạ" } },
      ]);
      expect(result.body).toMatchObject({
        used_tag: "PRIVATE_REPLY",
        method: "private_reply",
        comment_id: COMMENT,
      });
    });

    it("reports a second private reply to one comment as FB_INVALID_REQUEST with Graph's 10900, without a fallback", async () => {
      const upstream = new FakeUpstream().on(SEND_URL, {
        status: 400,
        json: envelope(10900, undefined, "(#10900) Activity already replied to"),
      });
      const error = await thrown(
        sendFacebookMessage(
          input({ commentId: COMMENT, knownCommentIds: ["1_2"], postId: "3" }),
          testDeps(upstream),
        ),
      );
      expect([error.code, error.upstreamCode?.code]).toEqual(["FB_INVALID_REQUEST", 10900]);
      expect(upstream.requests).toHaveLength(1);
    });
  });

  describe("validation it does beyond the schema", () => {
    async function refusal(body: Record<string, unknown>, headers: Record<string, string> = {}) {
      const upstream = acceptingGraph();
      const error = await thrown(sendFacebookMessage(input(body, headers), testDeps(upstream)));
      expect(upstream.requests, "nothing is sent").toHaveLength(0);
      expect([error.code, error.status, error.nothingSent]).toEqual(["VALIDATION_FAILED", 400, true]);
      return error;
    }

    it("refuses a request without a token in the body or the header", async () => {
      const error = await refusal({ pageToken: undefined });
      expect(error.details).toEqual([
        {
          path: ["body", "pageToken"],
          message: "is required (or send the page token in the X-Page-Access-Token header)",
        },
      ]);
    });

    it("refuses a request that names nobody to send to", async () => {
      const error = await refusal({ psid: undefined });
      expect(error.details).toEqual([
        { path: ["body", "psid"], message: "is required (or recipient, or commentId)" },
      ]);
    });

    it.each([
      ["no message and no images", { message: undefined }],
      ["a blank message and an empty imageUrls", { message: "  \n ", imageUrls: [] }],
      ["a blank {text}", { message: { text: " " } }],
    ])("refuses %s", async (_what, body) => {
      const error = await refusal(body);
      expect(error.details).toEqual([
        {
          path: ["body", "message"],
          message: "is required when imageUrls is empty (send text, images or both)",
        },
      ]);
    });

    it("refuses a tag without useTag", async () => {
      const error = await refusal({ tag: "HUMAN_AGENT" });
      expect(error.details).toEqual([{ path: ["body", "tag"], message: "is used only with useTag: true" }]);
      expect(error.message).toBe("body.tag: is used only with useTag: true");
    });

    it("refuses images or an attachment in a private reply (text only)", async () => {
      const images = await refusal({ commentId: "1_2", imageUrls: IMAGES });
      expect(images.details?.map((detail) => detail.path)).toEqual([["body", "imageUrls"]]);
      const attachment = await refusal({ recipient: { comment_id: "1_2" }, message: image(IMAGES[0] ?? "") });
      expect(attachment.details).toEqual([
        { path: ["body", "message"], message: "must be text for a private reply" },
      ]);
    });

    it("names every problem and counts the others in the message", async () => {
      const error = await refusal({ pageToken: undefined, psid: undefined, message: "" });
      expect(error.details).toHaveLength(3);
      expect(error.message).toBe(
        "body.pageToken: is required (or send the page token in the X-Page-Access-Token header) (and 2 more)",
      );
    });
  });

  describe("the window fallback: a private reply to the customer's comment", () => {
    const POST = `${PAGE}_1234567890123456`;
    const COMMENTS_URL = `https://graph.facebook.com/v26.0/${POST}/comments`;
    const outsideWindow = {
      status: 400,
      json: envelope(10, 2018278, "(#10) This message is sent outside of allowed window."),
    };
    const alreadyReplied = {
      status: 400,
      json: envelope(10900, undefined, "(#10900) Activity already replied to"),
    };

    /** Graph refusing `refusal` to the PSID; comments in `replied` are already answered; the rest accepted. */
    function windowGraph(refusal: FakeReply = outsideWindow, replied: readonly string[] = []): FakeUpstream {
      let n = 0;
      return new FakeUpstream().on(SEND_URL, (request) => {
        const { recipient } = JSON.parse(request.body ?? "{}") as {
          recipient: { id?: string; comment_id?: string };
        };
        if (recipient.id !== undefined) {
          return refusal;
        }
        if (replied.includes(recipient.comment_id ?? "")) {
          return alreadyReplied;
        }
        n += 1;
        return { json: { recipient_id: PSID, message_id: `m_pr${n}` } };
      });
    }

    const listing = (...comments: { id: string; from: { id: string; name: string } }[]) => ({
      json: {
        data: comments.map((c) => ({ ...c, message: "chốt đơn", created_time: "2026-11-24T08:00:00+0000" })),
      },
    });

    it("tries knownCommentIds in order after Graph refuses the window, and answers PRIVATE_REPLY", async () => {
      const upstream = windowGraph(outsideWindow, ["111_1"]);
      const result = await sendFacebookMessage(
        input({ useTag: true, knownCommentIds: ["111_1", "111_2", "111_3"], imageUrls: IMAGES }),
        testDeps(upstream),
      );
      expect(sends(upstream)).toEqual([
        taggedSend(image(IMAGES[0] ?? "")),
        { recipient: { comment_id: "111_1" }, message: { text: "Dạ shop chào chị ạ" } },
        { recipient: { comment_id: "111_2" }, message: { text: "Dạ shop chào chị ạ" } },
      ]);
      expect(result.body).toEqual({
        success: true,
        recipient_id: PSID,
        message_id: "m_pr1",
        message_ids: ["m_pr1"],
        used_tag: "PRIVATE_REPLY",
        method: "private_reply_known",
        comment_id: "111_2",
        matched_by: "known",
      });
    });

    it("falls back for 551 (the person is unavailable) too", async () => {
      const upstream = windowGraph({ status: 400, json: envelope(551, 1545041) });
      const result = await sendFacebookMessage(input({ knownCommentIds: ["111_1"] }), testDeps(upstream));
      expect(result.body).toMatchObject({ used_tag: "PRIVATE_REPLY", comment_id: "111_1" });
    });

    it("finds the customer's comment on postId by commenter id first, then by name ignoring case", async () => {
      const upstream = windowGraph().on(
        COMMENTS_URL,
        listing(
          { id: "c_name", from: { id: "999", name: "nguyễn thị  LAN" } },
          { id: "c_other", from: { id: "998", name: "Trần Văn B" } },
          { id: "c_id", from: { id: PSID, name: "Lan Nguyen" } },
        ),
      );
      const result = await sendFacebookMessage(
        input({ postId: POST, customerName: "Nguyễn Thị Lan" }),
        testDeps(upstream),
      );
      const get = upstream.requests.find((request) => request.method === "GET");
      const url = new URL(get?.url ?? "");
      expect(url.pathname).toBe(`/v26.0/${POST}/comments`);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        access_token: "EAAG-page-token",
        fields: "from{id,name},id,message,created_time",
        limit: "200",
        order: "reverse_chronological",
        filter: "stream",
      });
      expect(result.body).toMatchObject({ method: "private_reply", comment_id: "c_id", matched_by: "id" });

      const byName = windowGraph(outsideWindow, ["c_id"]).on(
        COMMENTS_URL,
        listing(
          { id: "c_id", from: { id: PSID, name: "x" } },
          { id: "c_name", from: { id: "999", name: "NGUYỄN THỊ LAN" } },
        ),
      );
      const second = await sendFacebookMessage(
        input({ postId: POST, customerName: "Nguyễn Thị Lan" }),
        testDeps(byName),
      );
      expect(second.body).toMatchObject({ comment_id: "c_name", matched_by: "name" });
    });

    it("tries the bare post id when Graph does not know {page}_{post}", async () => {
      const upstream = windowGraph()
        .on(COMMENTS_URL, { status: 400, json: envelope(100, 33, "Unsupported get request.") })
        .on(
          "https://graph.facebook.com/v26.0/1234567890123456/comments",
          listing({ id: "c_live", from: { id: PSID, name: "x" } }),
        );
      const result = await sendFacebookMessage(input({ postId: POST }), testDeps(upstream));
      expect(result.body).toMatchObject({ comment_id: "c_live", matched_by: "id" });
    });

    it("reports the window refusal with error_code 10900 when every comment found was already answered", async () => {
      const upstream = windowGraph(outsideWindow, ["111_1", "c_id"]).on(
        COMMENTS_URL,
        listing(
          { id: "111_1", from: { id: PSID, name: "x" } },
          { id: "c_id", from: { id: PSID, name: "x" } },
        ),
      );
      const error = await thrown(
        sendFacebookMessage(input({ knownCommentIds: ["111_1"], postId: POST }), testDeps(upstream)),
      );
      expect(sends(upstream).map((payload) => payload.recipient)).toEqual([
        { id: PSID },
        { comment_id: "111_1" },
        { comment_id: "c_id" },
      ]);
      expect([error.code, error.status, error.nothingSent]).toEqual(["FB_OUTSIDE_WINDOW", 403, true]);
      expect(error.upstreamCode).toEqual({ code: 10900 });
      expect(error.message).toContain(
        "each of the customer's 2 comments found has already had its one private reply",
      );
      expect(error.details).toEqual([
        { message: "(#10) This message is sent outside of allowed window.", code: 10, subcode: 2018278 },
        { message: "private reply to comment 111_1: (#10900) Activity already replied to", code: 10900 },
        { message: "private reply to comment c_id: (#10900) Activity already replied to", code: 10900 },
      ]);
    });

    it("reports the window refusal with Graph's numbers when the private reply is refused otherwise", async () => {
      const upstream = new FakeUpstream().on(SEND_URL, (request) =>
        (request.body ?? "").includes("comment_id")
          ? { status: 400, json: envelope(100, 2018292, "(#100) Invalid comment_id parameter") }
          : outsideWindow,
      );
      const error = await thrown(
        sendFacebookMessage(input({ knownCommentIds: ["111_1"] }), testDeps(upstream)),
      );
      expect([error.code, error.nothingSent]).toEqual(["FB_OUTSIDE_WINDOW", true]);
      expect(error.upstreamCode).toEqual({ code: 10, subcode: 2018278 });
      expect(error.message).toContain("A private reply to the customer's comment found was refused too.");
      expect(error.details?.[1]).toEqual({
        message: "private reply to comment 111_1: (#100) Invalid comment_id parameter",
        code: 100,
        subcode: 2018292,
      });
    });

    it("reports the window refusal with Graph's numbers when no comment of the customer is found", async () => {
      const upstream = windowGraph().on(
        COMMENTS_URL,
        listing({ id: "c_other", from: { id: "998", name: "B" } }),
      );
      const error = await thrown(
        sendFacebookMessage(input({ postId: POST, customerName: "Lan" }), testDeps(upstream)),
      );
      expect(error.code).toBe("FB_OUTSIDE_WINDOW");
      expect(error.upstreamCode).toEqual({ code: 10, subcode: 2018278 });
      expect(error.message).toContain(`No comment of the customer was found on post ${POST}`);
      expect(toErrorBody(error)).toMatchObject({ error_code: 10, error_subcode: 2018278 });
    });

    it("stops at a private reply that may have gone out (Graph's transient error), trying no other comment", async () => {
      let calls = 0;
      const upstream = new FakeUpstream().on(SEND_URL, () => {
        calls += 1;
        return calls === 1
          ? outsideWindow
          : { status: 500, json: envelope(2, undefined, "An unexpected error has occurred.") };
      });
      const error = await thrown(
        sendFacebookMessage(input({ knownCommentIds: ["111_1", "111_2"] }), testDeps(upstream)),
      );
      expect([error.code, error.nothingSent]).toEqual(["FB_UPSTREAM_ERROR", false]);
      expect(upstream.requests).toHaveLength(2);
    });

    it("does not fall back without knownCommentIds or postId, for other refusals, or after a part went out", async () => {
      const plain = windowGraph();
      expect((await thrown(sendFacebookMessage(input({ customerName: "Lan" }), testDeps(plain)))).code).toBe(
        "FB_OUTSIDE_WINDOW",
      );
      expect(plain.requests).toHaveLength(1);

      const limited = windowGraph({ status: 400, json: envelope(613) });
      expect(
        (await thrown(sendFacebookMessage(input({ knownCommentIds: ["111_1"] }), testDeps(limited)))).code,
      ).toBe("FB_RATE_LIMITED");
      expect(limited.requests).toHaveLength(1);

      let n = 0;
      const partway = new FakeUpstream().on(SEND_URL, () => {
        n += 1;
        return n === 1 ? { json: { recipient_id: PSID, message_id: "m_1" } } : outsideWindow;
      });
      const error = await thrown(
        sendFacebookMessage(
          input({ imageUrls: [IMAGES[0] ?? ""], knownCommentIds: ["111_1"] }),
          testDeps(partway),
        ),
      );
      expect(error.code).toBe("FB_OUTSIDE_WINDOW");
      expect(partway.requests).toHaveLength(2);
    });
  });

  describe("under an Idempotency-Key (deps.progress)", () => {
    it("records each part as soon as Graph accepted it", async () => {
      const progress = new MemoryProgress();
      await sendFacebookMessage(input({ imageUrls: IMAGES }), testDeps(acceptingGraph(), {}, progress));
      expect(progress.recorded).toEqual(["image:0", "image:1", "text"]);
      expect(progress.steps["image:1"]).toEqual({
        recipient_id: PSID,
        message_id: "m_2",
        method: "send_api",
        messaging_type: "RESPONSE",
      });
    });

    it("keeps the images' progress when Graph refuses the text, and says a keyed retry sends only the rest", async () => {
      let n = 0;
      const upstream = new FakeUpstream().on(SEND_URL, () => {
        n += 1;
        return n < 3
          ? { json: { recipient_id: PSID, message_id: `m_${n}` } }
          : { status: 400, json: envelope(613) };
      });
      const progress = new MemoryProgress();
      const error = await thrown(
        sendFacebookMessage(input({ imageUrls: IMAGES }), testDeps(upstream, {}, progress)),
      );
      expect([error.code, error.nothingSent]).toEqual(["FB_RATE_LIMITED", true]);
      expect(error.message).toContain("2 of the 3 parts of this send had already gone out");
      expect(progress.recorded).toEqual(["image:0", "image:1"]);
    });

    it("skips the parts an earlier attempt recorded and answers with every message id", async () => {
      const progress = new MemoryProgress({
        "image:0": {
          recipient_id: PSID,
          message_id: "m_earlier_0",
          method: "send_api",
          messaging_type: "RESPONSE",
        },
        "image:1": {
          recipient_id: PSID,
          message_id: "m_earlier_1",
          method: "send_api",
          messaging_type: "RESPONSE",
        },
      });
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({ imageUrls: IMAGES }),
        testDeps(upstream, {}, progress),
      );
      expect(sends(upstream)).toEqual([
        { recipient: { id: PSID }, message: { text: "Dạ shop chào chị ạ" }, messaging_type: "RESPONSE" },
      ]);
      expect(result.body.message_ids).toEqual(["m_earlier_0", "m_earlier_1", "m_1"]);
    });

    it("records a private reply given instead as the text, and never sends the images after it", async () => {
      const progress = new MemoryProgress({
        text: { message_id: "m_pr", method: "private_reply_known", comment_id: "111_1", matched_by: "known" },
      });
      const upstream = acceptingGraph();
      const result = await sendFacebookMessage(
        input({ imageUrls: IMAGES, knownCommentIds: ["111_1"] }),
        testDeps(upstream, {}, progress),
      );
      expect(upstream.requests).toHaveLength(0);
      expect(result.body).toMatchObject({
        message_ids: ["m_pr"],
        used_tag: "PRIVATE_REPLY",
        comment_id: "111_1",
      });
    });

    it("ignores a recorded value that is not a sent part", async () => {
      const progress = new MemoryProgress({ "image:0": { message_id: 7 }, text: "garbage" });
      const upstream = acceptingGraph();
      await sendFacebookMessage(input({ imageUrls: [IMAGES[0] ?? ""] }), testDeps(upstream, {}, progress));
      expect(sends(upstream)).toHaveLength(2);
    });
  });
});
