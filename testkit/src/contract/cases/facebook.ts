/** Contract cases of the `facebook` tag: Messenger sends through the Graph API. */
import { expect } from "vitest";
import { type AllFakes, FAKE_CREDENTIALS, GRAPH_ERRORS } from "../../fakes/index.js";
import type { CaseContext, ContractCase } from "../context.js";
import {
  badIdempotencyKey,
  brokenUpstream,
  contractCase,
  expectRefused,
  idempotencyCases,
  jsonBodyNegatives,
} from "./shared.js";

const PAGE = FAKE_CREDENTIALS.pageIds[0];
const TOKEN = FAKE_CREDENTIALS.graphPageTokens[PAGE] ?? "";
const { inWindow, outsideWindow, beyondHumanAgent } = FAKE_CREDENTIALS.psids;

/** Graph's Send API, as the upstream of sendFacebookMessage. */
const GRAPH_MESSAGES = { name: "Graph", fake: (fakes: AllFakes) => fakes.graph, match: /\/messages$/ };

function send(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { pageId: PAGE, psid: inWindow, message: "Dạ shop chào chị ạ", pageToken: TOKEN, ...overrides };
}

/**
 * The body as the shop's message template manager sends it (`_sendViaFacebookTag`,
 * orders-report/js/chat/message-template-manager.js:1097-1109), field for field.
 */
function templateManagerBody(
  order: { psid: string; postId?: string; customerName?: string },
  messageContent = "Dạ đơn của chị đã được gửi ạ",
): Record<string, unknown> {
  return {
    pageId: PAGE,
    psid: order.psid,
    message: messageContent,
    pageToken: TOKEN,
    useTag: true,
    imageUrls: [],
    postId: order.postId ?? "",
    customerName: order.customerName ?? "",
  };
}

/** Images the pages send (Graph fetches them itself; the fake only checks they are http(s) URLs). */
const IMAGES = [
  "https://content.pancake.vn/2.1-24/a/ao-thun.jpg",
  "https://content.pancake.vn/2.1-24/a/quan.jpg",
];

const sent = (ctx: CaseContext) => ctx.fakes.graph.sent.length;

/** The message ids Graph gave the last `n` sends, in order. */
const lastIds = (ctx: CaseContext, n: number) => ctx.fakes.graph.sent.slice(-n).map((s) => s.messageId);

/** A post of the page with one comment by `from`; returns the post and comment ids. */
function commentedPost(
  ctx: CaseContext,
  from: { id: string; name: string },
): { post: string; comment: string } {
  const post = ctx.fakes.graph.addPost(PAGE);
  return { post, comment: ctx.fakes.graph.addComment(post, from) };
}

/** Sends `body` and asserts 400 VALIDATION_FAILED with no request to Graph; returns the Error body. */
const refusedSend = (ctx: CaseContext, body: unknown) =>
  expectRefused(
    ctx,
    "POST",
    { path: "/api/facebook-send", init: { json: body } },
    400,
    "VALIDATION_FAILED",
    (c) => c.fakes.graph.requests.length,
  );

/** A send Graph refuses with `error`: the mapped status and code, Graph's code in details, nothing sent. */
function graphRefusal(
  name: string,
  error: (typeof GRAPH_ERRORS)[keyof typeof GRAPH_ERRORS],
  status: number,
  code: Parameters<CaseContext["expectError"]>[2],
): ContractCase {
  return contractCase("sendFacebookMessage", "negative", name, async (ctx) => {
    const before = sent(ctx);
    ctx.fakes.graph.injectError(error);
    const response = await ctx.call("POST", "/api/facebook-send", { json: send() });
    const body = await ctx.expectError(response, status, code);
    expect(body.details?.[0]).toMatchObject({ code: error.code });
    // What the pages read on failure: success false, error (our reason phrase), Graph's numbers.
    expect(body).toMatchObject({ success: false, error: expect.any(String), error_code: error.code });
    expect(body.error_subcode).toBe("subcode" in error ? error.subcode : undefined);
    if (status === 429) {
      expect(response.headers.get("retry-after")).toBe("60");
    }
    expect(sent(ctx)).toBe(before);
  });
}

export const facebookCases: ContractCase[] = [
  contractCase("sendFacebookMessage", "happy", "sends a reply inside 24 hours as RESPONSE", async (ctx) => {
    const before = sent(ctx);
    const message = ctx.unique("Dạ shop chào chị");
    const response = await ctx.call("POST", "/api/facebook-send", { json: send({ message }) });
    expect(response.status).toBe(200);
    const body = await ctx.json(response);
    expect(body).toEqual({
      success: true,
      recipient_id: inWindow,
      message_id: expect.stringMatching(/^m_/),
      message_ids: [body.message_id],
      used_tag: null,
      method: "send_api",
      messaging_type: "RESPONSE",
    });
    expect(sent(ctx)).toBe(before + 1);
    expect(ctx.fakes.graph.sent.at(-1)).toMatchObject({
      pageId: PAGE,
      version: "v26.0",
      recipient: { id: inWindow },
      messagingType: "RESPONSE",
      tag: null,
      message: { text: message },
      messageId: body.message_id,
    });
    const seen = ctx.fakes.graph.requests.at(-1);
    expect(seen?.body, "the page token goes in the query, not the body").not.toContain(TOKEN);
  }),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "sends with useTag as MESSAGE_TAG with HUMAN_AGENT after 24 hours",
    async (ctx) => {
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: send({ psid: outsideWindow, useTag: true }),
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({
        success: true,
        used_tag: "HUMAN_AGENT",
        messaging_type: "MESSAGE_TAG",
        tag: "HUMAN_AGENT",
      });
      expect(ctx.fakes.graph.sent.at(-1)).toMatchObject({ messagingType: "MESSAGE_TAG", tag: "HUMAN_AGENT" });
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "reports Graph's refusal of a deprecated tag as 400 FB_INVALID_REQUEST, never switching tags",
    async (ctx) => {
      const before = sent(ctx);
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: send({ psid: outsideWindow, useTag: true, tag: "POST_PURCHASE_UPDATE" }),
      });
      const body = await ctx.expectError(response, 400, "FB_INVALID_REQUEST");
      expect(body.message).toContain("POST_PURCHASE_UPDATE");
      expect(body.details).toEqual([{ message: "(#100) Invalid parameter", code: 100 }]);
      expect(sent(ctx)).toBe(before);
      expect(ctx.fakes.graph.requests.at(-1)?.body).toContain("POST_PURCHASE_UPDATE");
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 403 FB_OUTSIDE_WINDOW for a RESPONSE after 24 hours",
    async (ctx) => {
      const before = sent(ctx);
      const body = await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ psid: outsideWindow }) }),
        403,
        "FB_OUTSIDE_WINDOW",
      );
      expect(body.details).toEqual([
        { message: GRAPH_ERRORS.outsideWindow.message, code: 10, subcode: 2018278 },
      ]);
      expect(body).toMatchObject({ success: false, error_code: 10, error_subcode: 2018278 });
      expect(sent(ctx)).toBe(before);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 403 FB_OUTSIDE_WINDOW for HUMAN_AGENT after 7 days",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", {
          json: send({ psid: beyondHumanAgent, useTag: true }),
        }),
        403,
        "FB_OUTSIDE_WINDOW",
      );
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 401 FB_PAGE_TOKEN_INVALID for a token Graph refuses",
    async (ctx) => {
      const before = sent(ctx);
      const body = await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ pageToken: "EAAG-revoked" }) }),
        401,
        "FB_PAGE_TOKEN_INVALID",
      );
      expect(body.details?.[0]).toMatchObject({ code: 190 });
      expect(JSON.stringify(body)).not.toContain("EAAG-revoked");
      expect(sent(ctx)).toBe(before);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 400 FB_INVALID_REQUEST for a PSID Graph does not know",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ psid: "24999999999999999" }) }),
        400,
        "FB_INVALID_REQUEST",
      );
    },
  ),
  graphRefusal(
    "answers 429 FB_RATE_LIMITED with Retry-After when Graph limits the page",
    GRAPH_ERRORS.rateLimit,
    429,
    "FB_RATE_LIMITED",
  ),
  graphRefusal(
    "answers 403 FB_RECIPIENT_UNAVAILABLE when the person cannot be reached",
    GRAPH_ERRORS.userUnavailable,
    403,
    "FB_RECIPIENT_UNAVAILABLE",
  ),
  graphRefusal(
    "answers 403 FB_PERMISSION_DENIED when a permission is missing",
    GRAPH_ERRORS.permission,
    403,
    "FB_PERMISSION_DENIED",
  ),
  graphRefusal(
    "answers 502 FB_UPSTREAM_ERROR for Graph's transient failure",
    GRAPH_ERRORS.transient,
    502,
    "FB_UPSTREAM_ERROR",
  ),
  ...(["reset", "garbage"] as const).map((how) =>
    brokenUpstream("sendFacebookMessage", "POST", how, GRAPH_MESSAGES, () => ({
      path: "/api/facebook-send",
      init: { json: send() },
    })),
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 504 UPSTREAM_TIMEOUT when Graph does not answer in time",
    async (ctx) => {
      ctx.fakes.graph.fault.set({ mode: "slow", ms: 8000 }, { times: 1, match: /\/messages$/ });
      const started = Date.now();
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send() }),
        504,
        "UPSTREAM_TIMEOUT",
      );
      expect(Date.now() - started).toBeLessThan(7500);
    },
  ),
  // Bodies refused with 400 VALIDATION_FAILED before Graph: a field the details name (`only` when
  // it must be the only one), or none where the details are not part of the contract.
  ...(
    [
      ["refuses a tag without useTag", { tag: "HUMAN_AGENT" }, "tag"],
      ["refuses a page id that is not digits", { pageId: "../me" }, "pageId"],
      ["refuses a message over 2000 characters", { message: "a".repeat(2001) }],
      [
        "refuses a request without a page token in the body or X-Page-Access-Token",
        { pageToken: undefined },
        "pageToken",
        "only",
      ],
      [
        "refuses a request naming nobody (no psid, recipient or commentId)",
        { psid: undefined },
        "psid",
        "only",
      ],
      ["refuses a tag Messenger does not have", { useTag: true, tag: "MARKETING" }],
    ] as const
  ).map(([name, overrides, field, only]: readonly [string, Record<string, unknown>, string?, "only"?]) =>
    contractCase("sendFacebookMessage", "negative", `${name} with 400 VALIDATION_FAILED`, async (ctx) => {
      const paths = (await refusedSend(ctx, send(overrides))).details?.map((d) => d.path);
      if (field !== undefined && only === "only") {
        expect(paths).toEqual([["body", field]]);
      } else if (field !== undefined) {
        expect(paths).toContainEqual(["body", field]);
      }
    }),
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses a request with neither text nor images with 400 VALIDATION_FAILED",
    async (ctx) => {
      for (const body of [
        send({ message: "" }),
        send({ message: "  ", imageUrls: [] }),
        send({ message: undefined }),
      ]) {
        const error = await refusedSend(ctx, body);
        expect(error.details).toEqual([
          {
            path: ["body", "message"],
            message: "is required when imageUrls is empty (send text, images or both)",
          },
        ]);
      }
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses images in a private reply (text only) with 400 VALIDATION_FAILED",
    async (ctx) => {
      const { comment } = commentedPost(ctx, { id: beyondHumanAgent, name: "Lan" });
      const error = await refusedSend(ctx, send({ commentId: comment, imageUrls: IMAGES }));
      expect(error.details?.map((d) => d.path)).toEqual([["body", "imageUrls"]]);
      expect(ctx.fakes.graph.comment(comment)?.privatelyReplied).toBe(false);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses malformed ids and image URLs it reads with 400 VALIDATION_FAILED naming each field",
    async (ctx) => {
      for (const [field, body] of [
        ["imageUrls", send({ imageUrls: ["javascript:alert(1)"] })],
        ["commentId", send({ commentId: "../../me/feed" })],
        ["knownCommentIds", send({ knownCommentIds: Array.from({ length: 11 }, (_, i) => `1_${i}`) })],
        ["postId", send({ postId: "1_2_3_4" })],
        ["recipient", send({ recipient: { user_ref: "x" } })],
        ["psid", send({ psid: 24000001 })],
      ] as const) {
        const error = await refusedSend(ctx, body);
        expect(
          error.details?.map((d) => d.path?.[1]),
          field,
        ).toContain(field);
      }
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses a form-encoded body with 415 UNSUPPORTED_MEDIA_TYPE",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", {
          form: { pageId: PAGE, psid: inWindow, message: "x", pageToken: TOKEN },
        }),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      );
    },
  ),
  ...jsonBodyNegatives({
    operationId: "sendFacebookMessage",
    method: "POST",
    request: async () => ({ path: "/api/facebook-send" }),
    valid: () => send(),
    required: "pageId",
    wrongType: ["useTag", "yes"],
    // The pages add context (order ids, names) that is ignored: see "ignores the fields it does not use".
    closed: false,
    untouched: (ctx) => ctx.fakes.graph.requests.length,
  }),
  badIdempotencyKey("sendFacebookMessage", "POST", () => ({
    path: "/api/facebook-send",
    init: { json: send() },
  })),
  ...idempotencyCases(
    "sendFacebookMessage",
    "POST",
    async (_ctx, variant) => ({
      path: "/api/facebook-send",
      init: { json: send({ message: `Đơn của chị đã gửi ạ (${variant})` }) },
    }),
    sent,
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 409 IDEMPOTENCY_KEY_IN_USE to a concurrent duplicate and sends once (503 without a store)",
    async (ctx) => {
      const before = sent(ctx);
      const key = ctx.unique("concurrent");
      // Graph holds the first send long enough for the duplicate to arrive while it is in flight.
      ctx.fakes.graph.setResponseDelay(1000);
      const call = () =>
        ctx.call("POST", "/api/facebook-send", { json: send(), headers: { "idempotency-key": key } });
      const first = call();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const responses = await Promise.all([first, call()]);
      if (!ctx.idempotencyStore) {
        for (const response of responses) {
          await ctx.expectError(response, 503, "IDEMPOTENCY_STORE_UNAVAILABLE");
        }
        expect(sent(ctx)).toBe(before);
        return;
      }
      // Whichever claimed the key first sends; the other is told it is in flight.
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 409]);
      const duplicate = responses.find((response) => response.status === 409) as Response;
      const error = await ctx.expectError(duplicate, 409, "IDEMPOTENCY_KEY_IN_USE");
      expect(error.message).toContain("still being processed");
      expect(duplicate.headers.get("retry-after")).not.toBeNull();
      expect(sent(ctx)).toBe(before + 1);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "releases the key after Graph's definite refusal, so a corrected retry may run",
    async (ctx) => {
      const key = ctx.unique("released");
      const keyed = { "idempotency-key": key };
      const refused = await ctx.call("POST", "/api/facebook-send", {
        json: send({ psid: outsideWindow }),
        headers: keyed,
      });
      if (!ctx.idempotencyStore) {
        await ctx.expectError(refused, 503, "IDEMPOTENCY_STORE_UNAVAILABLE");
        return;
      }
      await ctx.expectError(refused, 403, "FB_OUTSIDE_WINDOW");
      // The same request again runs again (nothing was sent the first time), and is refused again.
      const graphCalls = ctx.fakes.graph.requests.length;
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ psid: outsideWindow }), headers: keyed }),
        403,
        "FB_OUTSIDE_WINDOW",
      );
      expect(ctx.fakes.graph.requests.length).toBe(graphCalls + 1);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "takes the message template manager's body as it is and answers success, used_tag and message_id",
    async (ctx) => {
      const before = sent(ctx);
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: templateManagerBody({
          psid: outsideWindow,
          postId: `${PAGE}_1234567890123456`,
          customerName: "Lan",
        }),
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      // The page branches on `success`, then keeps `used_tag` (message-template-manager.js:1331-1334).
      expect(body).toMatchObject({ success: true, used_tag: "HUMAN_AGENT" });
      expect(body.message_ids).toEqual([body.message_id]);
      expect(sent(ctx)).toBe(before + 1);
      expect(ctx.fakes.graph.sent.at(-1)).toMatchObject({
        recipient: { id: outsideWindow },
        messagingType: "MESSAGE_TAG",
        tag: "HUMAN_AGENT",
        messageId: body.message_id,
      });
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "sends the images first, one Graph send each, then the text, and lists every message id in order",
    async (ctx) => {
      const before = sent(ctx);
      const message = ctx.unique("Mẫu mới về ạ");
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: { ...templateManagerBody({ psid: inWindow }, message), imageUrls: IMAGES },
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(sent(ctx)).toBe(before + 3);
      expect(ctx.fakes.graph.sent.slice(-3).map((s) => s.message)).toEqual([
        { attachment: { type: "image", payload: { url: IMAGES[0], is_reusable: true } } },
        { attachment: { type: "image", payload: { url: IMAGES[1], is_reusable: true } } },
        { text: message },
      ]);
      expect(body).toMatchObject({ success: true, used_tag: "HUMAN_AGENT", message_ids: lastIds(ctx, 3) });
      expect(body.message_id).toBe(lastIds(ctx, 1)[0]);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "takes the page token from X-Page-Access-Token when the body has none",
    async (ctx) => {
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: send({ pageToken: undefined }),
        headers: { "x-page-access-token": TOKEN },
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({ success: true, used_tag: null });
      expect(ctx.fakes.graph.requests.at(-1)?.query.get("access_token")).toBe(TOKEN);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "ignores the fields it does not use (the pages add order context)",
    async (ctx) => {
      const before = sent(ctx);
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: {
          ...templateManagerBody({ psid: inWindow }),
          orderId: "c2060000-5d17-0015-0634-08deb0edcfeb",
          Code: "NJD/2026/1742",
          _usedTag: null,
          extension: { parts: 2 },
        },
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({ success: true });
      expect(sent(ctx)).toBe(before + 1);
      expect(ctx.fakes.graph.requests.at(-1)?.body).not.toContain("NJD/2026/1742");
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "sends a private reply to recipient.comment_id without messaging_type, answering used_tag PRIVATE_REPLY",
    async (ctx) => {
      const { comment } = commentedPost(ctx, { id: beyondHumanAgent, name: "Nguyễn Thị Lan" });
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: { pageId: PAGE, recipient: { comment_id: comment }, message: "Shop đã inbox chị ạ" },
        headers: { "x-page-access-token": TOKEN },
      });
      expect(response.status).toBe(200);
      const body = await ctx.json(response);
      expect(body).toEqual({
        success: true,
        message_id: lastIds(ctx, 1)[0],
        message_ids: lastIds(ctx, 1),
        used_tag: "PRIVATE_REPLY",
        method: "private_reply",
        comment_id: comment,
      });
      expect(ctx.fakes.graph.sent.at(-1)).toMatchObject({
        recipient: { comment_id: comment },
        messagingType: null,
      });
      expect(ctx.fakes.graph.comment(comment)?.privatelyReplied).toBe(true);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "sends a private reply to commentId, even with useTag",
    async (ctx) => {
      const { comment } = commentedPost(ctx, { id: beyondHumanAgent, name: "Lan" });
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: send({ psid: beyondHumanAgent, commentId: comment, useTag: true }),
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toMatchObject({
        success: true,
        used_tag: "PRIVATE_REPLY",
        comment_id: comment,
      });
      expect(ctx.fakes.graph.sent.at(-1)).toMatchObject({
        recipient: { comment_id: comment },
        messagingType: null,
      });
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers a second private reply to one comment with 400 FB_INVALID_REQUEST and Graph's 10900",
    async (ctx) => {
      const { comment } = commentedPost(ctx, { id: beyondHumanAgent, name: "Lan" });
      const reply = () => ctx.call("POST", "/api/facebook-send", { json: send({ commentId: comment }) });
      expect((await reply()).status).toBe(200);
      const before = sent(ctx);
      const body = await ctx.expectError(await reply(), 400, "FB_INVALID_REQUEST");
      expect(body).toMatchObject({ success: false, error_code: 10900 });
      expect(body.message).toContain("already had its one private reply");
      expect(sent(ctx)).toBe(before);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "falls back to a private reply to knownCommentIds when Graph refuses the window",
    async (ctx) => {
      const customer = { id: beyondHumanAgent, name: "Lan" };
      const { post, comment: answered } = commentedPost(ctx, customer);
      const fresh = ctx.fakes.graph.addComment(post, customer);
      // The first known comment already had its private reply: Graph refuses it, the next is tried.
      expect(
        (await ctx.call("POST", "/api/facebook-send", { json: send({ commentId: answered }) })).status,
      ).toBe(200);
      const before = sent(ctx);
      const response = await ctx.call("POST", "/api/facebook-send", {
        json: { ...templateManagerBody({ psid: beyondHumanAgent }), knownCommentIds: [answered, fresh] },
      });
      expect(response.status).toBe(200);
      expect(await ctx.json(response)).toEqual({
        success: true,
        message_id: lastIds(ctx, 1)[0],
        message_ids: lastIds(ctx, 1),
        used_tag: "PRIVATE_REPLY",
        method: "private_reply_known",
        comment_id: fresh,
        matched_by: "known",
      });
      expect(sent(ctx)).toBe(before + 1);
      expect(ctx.fakes.graph.sent.at(-1)).toMatchObject({
        recipient: { comment_id: fresh },
        message: { text: "Dạ đơn của chị đã được gửi ạ" },
      });
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "falls back to the customer's comment on postId, found by commenter id, then by name",
    async (ctx) => {
      const post = ctx.fakes.graph.addPost(PAGE);
      ctx.fakes.graph.addComment(post, { id: "100000000000077", name: "Người khác" });
      const byId = ctx.fakes.graph.addComment(post, { id: beyondHumanAgent, name: "Chị Lan" });
      const first = await ctx.call("POST", "/api/facebook-send", {
        json: templateManagerBody({ psid: beyondHumanAgent, postId: post, customerName: "Nguyễn Thị Hoa" }),
      });
      expect(first.status).toBe(200);
      expect(await ctx.json(first)).toMatchObject({
        success: true,
        used_tag: "PRIVATE_REPLY",
        method: "private_reply",
        comment_id: byId,
        matched_by: "id",
      });
      // The customer also commented under another account name the shop knows: matched by name.
      const byName = ctx.fakes.graph.addComment(post, { id: "100000000000078", name: "NGUYỄN THỊ HOA" });
      const second = await ctx.call("POST", "/api/facebook-send", {
        json: templateManagerBody({ psid: beyondHumanAgent, postId: post, customerName: "Nguyễn Thị Hoa" }),
      });
      expect(second.status).toBe(200);
      expect(await ctx.json(second)).toMatchObject({ comment_id: byName, matched_by: "name" });
      const listing = ctx.fakes.graph.requests.findLast((r) => r.path.endsWith("/comments"));
      expect(listing?.query.get("fields")).toBe("from{id,name},id,message,created_time");
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 403 FB_OUTSIDE_WINDOW with error_code 10900 when every comment of the customer was already answered",
    async (ctx) => {
      const { post, comment } = commentedPost(ctx, { id: beyondHumanAgent, name: "Lan" });
      expect(
        (await ctx.call("POST", "/api/facebook-send", { json: send({ commentId: comment }) })).status,
      ).toBe(200);
      const before = sent(ctx);
      const body = await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", {
          json: templateManagerBody({ psid: beyondHumanAgent, postId: post, customerName: "Lan" }),
        }),
        403,
        "FB_OUTSIDE_WINDOW",
      );
      expect(body).toMatchObject({ success: false, error_code: 10900 });
      expect(body.message).toContain("already had its one private reply");
      expect(body.details?.map((d) => d.code)).toEqual([10, 10900]);
      expect(sent(ctx)).toBe(before);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "answers 403 FB_OUTSIDE_WINDOW with Graph's 10/2018278 when no comment of the customer is on postId",
    async (ctx) => {
      const { post } = commentedPost(ctx, { id: "100000000000077", name: "Người khác" });
      const body = await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", {
          json: templateManagerBody({ psid: beyondHumanAgent, postId: post, customerName: "Lan" }),
        }),
        403,
        "FB_OUTSIDE_WINDOW",
      );
      expect(body).toMatchObject({ success: false, error_code: 10, error_subcode: 2018278 });
      expect(body.message).toContain("No comment of the customer was found");
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "happy",
    "sends a keyed multi-part send once: after Graph refuses the text, the retry sends only the text",
    async (ctx) => {
      const key = ctx.unique("parts");
      const body = { ...templateManagerBody({ psid: inWindow }, `parts ${key}`), imageUrls: IMAGES };
      const call = () =>
        ctx.call("POST", "/api/facebook-send", { json: body, headers: { "idempotency-key": key } });
      const before = sent(ctx);
      // Graph takes both images, then refuses the text (a definite refusal: it was not sent).
      const disarm = ctx.fakes.graph.refuseSend(3, GRAPH_ERRORS.rateLimit);
      try {
        const refused = await call();
        if (!ctx.idempotencyStore) {
          await ctx.expectError(refused, 503, "IDEMPOTENCY_STORE_UNAVAILABLE");
          expect(sent(ctx)).toBe(before);
          return;
        }
        const error = await ctx.expectError(refused, 429, "FB_RATE_LIMITED");
        expect(error).toMatchObject({ success: false, error_code: 613 });
        expect(error.message).toContain("2 of the 3 parts");
        expect(sent(ctx)).toBe(before + 2);
      } finally {
        disarm();
      }
      const retry = await call();
      expect(retry.status).toBe(200);
      const result = await ctx.json(retry);
      const messages = ctx.fakes.graph.sent.slice(before);
      expect(messages.map((m) => m.message)).toEqual([
        { attachment: { type: "image", payload: { url: IMAGES[0], is_reusable: true } } },
        { attachment: { type: "image", payload: { url: IMAGES[1], is_reusable: true } } },
        { text: `parts ${key}` },
      ]);
      expect(result).toMatchObject({ success: true, message_ids: messages.map((m) => m.messageId) });
      const replay = await call();
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await ctx.json(replay)).toEqual(result);
      expect(sent(ctx)).toBe(before + 3);
    },
  ),
];
