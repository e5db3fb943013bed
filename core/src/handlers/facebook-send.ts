import type { ErrorCode, Schema } from "@n2store/generated";
import type { SharedHandler } from "../deps.js";
import { ApiError, type ErrorDetail } from "../errors.js";
import { callUpstream, joinUrl, readJson } from "../upstream.js";

type MessageTag = Schema<"MessageTag">;

/** Tags Graph has refused since 2026-04-27 (notes/upstreams.md 5.3). */
const DEPRECATED_TAGS: ReadonlySet<MessageTag> = new Set([
  "POST_PURCHASE_UPDATE",
  "CONFIRMED_EVENT_UPDATE",
  "ACCOUNT_UPDATE",
]);

/** Graph's error envelope (https://developers.facebook.com/docs/graph-api/guides/error-handling). */
interface GraphError {
  readonly message?: string;
  readonly type?: string;
  readonly code?: number;
  readonly error_subcode?: number;
  readonly fbtrace_id?: string;
}

/**
 * Turns Graph's refusal into our error: a stable code, a message a shop assistant can act on, and
 * Graph's own code and subcode in `details`. A definite refusal means nothing was sent, so an
 * idempotency key is released and the call may be retried; an unexpected Graph failure is not
 * (the message might have gone out).
 */
export function graphError(status: number, envelope: unknown, tag: MessageTag | undefined): ApiError {
  const error: GraphError =
    typeof envelope === "object" &&
    envelope !== null &&
    typeof (envelope as { error?: unknown }).error === "object"
      ? ((envelope as { error: GraphError }).error ?? {})
      : {};
  const code = typeof error.code === "number" ? error.code : undefined;
  const subcode = typeof error.error_subcode === "number" ? error.error_subcode : undefined;
  const detail: ErrorDetail = { message: error.message ?? `Facebook answered ${status}` };
  if (code !== undefined) {
    Object.assign(detail, { code });
  }
  if (subcode !== undefined) {
    Object.assign(detail, { subcode });
  }
  const refuse = (errorCode: ErrorCode, message: string, extra: { headers?: Record<string, string> } = {}) =>
    new ApiError(errorCode, message, { details: [detail], nothingSent: true, ...extra });

  if (code === 190) {
    return refuse(
      "FB_PAGE_TOKEN_INVALID",
      "Facebook refused the page token; reconnect the page to get a new one.",
    );
  }
  if (code === 10 && subcode === 2018278) {
    return refuse(
      "FB_OUTSIDE_WINDOW",
      "The customer's last message is more than 24 hours old. Send with useTag (HUMAN_AGENT) within 7 days, or wait for the customer to write again.",
    );
  }
  if (code === 10 && subcode === 1893063) {
    return refuse(
      "FB_PERMISSION_DENIED",
      "Facebook has temporarily restricted this page from sending messages.",
    );
  }
  if (code === 10 || (code !== undefined && code >= 200 && code < 300)) {
    return refuse(
      "FB_PERMISSION_DENIED",
      "Facebook refused: the page or app lacks a permission needed to send this message (for HUMAN_AGENT, the Human Agent permission).",
    );
  }
  if (code === 551) {
    return refuse(
      "FB_RECIPIENT_UNAVAILABLE",
      "This person isn't available right now: they blocked the page or turned off messages.",
    );
  }
  if (code === 613 || code === 4 || code === 32 || code === 80006) {
    return refuse(
      "FB_RATE_LIMITED",
      "Facebook is limiting how fast this page can send; try again in a minute.",
      {
        headers: { "retry-after": "60" },
      },
    );
  }
  if (code === 100 && tag !== undefined && DEPRECATED_TAGS.has(tag)) {
    return refuse(
      "FB_INVALID_REQUEST",
      `Facebook refused the tag ${tag}: Meta stopped accepting it on 2026-04-27. Reply without a tag inside 24 hours, or with HUMAN_AGENT up to 7 days.`,
    );
  }
  if (code === 100 && subcode === 2018001) {
    return refuse("FB_INVALID_REQUEST", "Facebook found no person with this PSID for this page.");
  }
  if (code === 100) {
    return refuse("FB_INVALID_REQUEST", `Facebook refused the message as invalid: ${detail.message}`);
  }
  // Codes 1 and 2 are Graph's "unexpected error, retry later": the message may or may not be out.
  return new ApiError(
    "FB_UPSTREAM_ERROR",
    `Facebook could not send the message right now: ${detail.message}`,
    {
      details: [detail],
    },
  );
}

/**
 * POST /api/facebook-send: one Messenger send through Graph, never retried here. Without `useTag`
 * it goes as RESPONSE (inside 24 hours); with it, as MESSAGE_TAG with `tag` (HUMAN_AGENT unless
 * another is asked for, which Graph may refuse: that refusal is reported, never silently swapped).
 */
export const sendFacebookMessage: SharedHandler<"sendFacebookMessage"> = async (input, deps) => {
  const { pageId, psid, message, pageToken, useTag, tag } = input.body;
  if (tag !== undefined && useTag !== true) {
    throw new ApiError("VALIDATION_FAILED", "body.tag: is used only with useTag: true", {
      details: [{ path: ["body", "tag"], message: "is used only with useTag: true" }],
      nothingSent: true,
    });
  }
  const messagingType = useTag === true ? "MESSAGE_TAG" : "RESPONSE";
  const sentTag: MessageTag | undefined = useTag === true ? (tag ?? "HUMAN_AGENT") : undefined;
  const url = joinUrl(deps.config.graphBaseUrl, `/${deps.config.graphVersion}/${pageId}/messages`);
  url.searchParams.set("access_token", pageToken);
  const payload: Record<string, unknown> = {
    recipient: { id: psid },
    message: { text: message },
    messaging_type: messagingType,
  };
  if (sentTag !== undefined) {
    payload.tag = sentTag;
  }
  const response = await callUpstream(
    deps.upstream,
    {
      url,
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(payload),
      timeoutMs: deps.config.upstreamTimeoutMs,
      maxBodyBytes: 64 * 1024,
      guarded: false,
      ...(deps.signal ? { signal: deps.signal } : {}),
    },
    "Facebook",
  );
  const body = await readJson(response, "Facebook", 64 * 1024).catch((error: unknown) => {
    if (response.status >= 400) {
      return null;
    }
    throw error;
  });
  if (response.status < 200 || response.status >= 300) {
    throw graphError(response.status, body, sentTag);
  }
  const sent = body as { recipient_id?: unknown; message_id?: unknown } | null;
  if (sent === null || typeof sent.message_id !== "string") {
    throw new ApiError(
      "UPSTREAM_BAD_RESPONSE",
      "Facebook accepted the send but answered without a message id.",
    );
  }
  const result: Schema<"FacebookSendResult"> = { message_id: sent.message_id, messaging_type: messagingType };
  if (typeof sent.recipient_id === "string") {
    result.recipient_id = sent.recipient_id;
  }
  if (sentTag !== undefined) {
    result.tag = sentTag;
  }
  return { status: 200, body: result };
};
