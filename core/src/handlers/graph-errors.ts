/** Graph's refusals of a send, as the gateway's errors (notes/upstreams.md 5). */
import type { ErrorCode, Schema } from "@n2store/generated";
import { ApiError, type ErrorDetail, isApiError } from "../errors.js";

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
 * Graph's own code and subcode (top-level `error_code`/`error_subcode`, which the shop's pages
 * read, and in `details`). A definite refusal means nothing was sent, so an idempotency key is
 * released and the call may be retried; an unexpected Graph failure is not (the message might
 * have gone out).
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
  const upstreamCode = code === undefined ? {} : { upstreamCode: { code, subcode } };
  const refuse = (errorCode: ErrorCode, message: string, extra: { headers?: Record<string, string> } = {}) =>
    new ApiError(errorCode, message, { details: [detail], nothingSent: true, ...upstreamCode, ...extra });

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
  // Private replies: one per comment ("Activity already replied to"), and only to a replyable one.
  if (code === 10900) {
    return refuse(
      "FB_INVALID_REQUEST",
      "Facebook refused the private reply: this comment has already had its one private reply. The customer must comment or write again.",
    );
  }
  if (code === 10902) {
    return refuse(
      "FB_INVALID_REQUEST",
      "Facebook refused the private reply: this comment cannot be answered privately.",
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
      ...upstreamCode,
    },
  );
}

/** The same error with a sentence added to its message. */
export function withNote(error: ApiError, note: string, upstreamCode = error.upstreamCode): ApiError {
  return new ApiError(error.code, `${error.message} ${note}`, {
    nothingSent: error.nothingSent,
    ...(error.details === undefined ? {} : { details: error.details }),
    ...(error.headers === undefined ? {} : { headers: error.headers }),
    ...(upstreamCode === undefined ? {} : { upstreamCode }),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  });
}

/** Whether Graph refused a direct send for the messaging window, or because the person is unavailable. */
export function refusedForWindow(error: unknown): error is ApiError {
  if (!isApiError(error) || error.upstreamCode === undefined) {
    return false;
  }
  const { code, subcode } = error.upstreamCode;
  return (code === 10 && subcode === 2018278) || code === 551;
}
