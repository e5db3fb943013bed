/** Contract cases of the `facebook` tag: Messenger sends through the Graph API. */
import { expect } from "vitest";
import { type AllFakes, FAKE_CREDENTIALS, GRAPH_ERRORS } from "../../fakes/index.js";
import type { CaseContext, ContractCase } from "../context.js";
import {
  badIdempotencyKey,
  brokenUpstream,
  contractCase,
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

const sent = (ctx: CaseContext) => ctx.fakes.graph.sent.length;

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
      recipient_id: inWindow,
      message_id: expect.stringMatching(/^m_/),
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
      expect(await ctx.json(response)).toMatchObject({ messaging_type: "MESSAGE_TAG", tag: "HUMAN_AGENT" });
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
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses a tag without useTag with 400 VALIDATION_FAILED",
    async (ctx) => {
      const before = ctx.fakes.graph.requests.length;
      const body = await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ tag: "HUMAN_AGENT" }) }),
        400,
        "VALIDATION_FAILED",
      );
      expect(body.details?.map((d) => d.path)).toContainEqual(["body", "tag"]);
      expect(ctx.fakes.graph.requests.length).toBe(before);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses a page id that is not digits with 400 VALIDATION_FAILED",
    async (ctx) => {
      const body = await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ pageId: "../me" }) }),
        400,
        "VALIDATION_FAILED",
      );
      expect(body.details?.map((d) => d.path)).toContainEqual(["body", "pageId"]);
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses a message over 2000 characters with 400 VALIDATION_FAILED",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ message: "a".repeat(2001) }) }),
        400,
        "VALIDATION_FAILED",
      );
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses an empty message with 400 VALIDATION_FAILED",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ message: "" }) }),
        400,
        "VALIDATION_FAILED",
      );
    },
  ),
  contractCase(
    "sendFacebookMessage",
    "negative",
    "refuses a tag Messenger does not have with 400 VALIDATION_FAILED",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/facebook-send", { json: send({ useTag: true, tag: "MARKETING" }) }),
        400,
        "VALIDATION_FAILED",
      );
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
    required: "pageToken",
    wrongType: ["useTag", "yes"],
    closed: true,
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
];
