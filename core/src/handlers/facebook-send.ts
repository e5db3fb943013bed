import type { Schema } from "@n2store/generated";
import type { SharedDeps, SharedHandler } from "../deps.js";
import { ApiError, type ErrorDetail, isApiError } from "../errors.js";
import { callUpstream, joinUrl, readJson } from "../upstream.js";
import { graphError, refusedForWindow, withNote } from "./graph-errors.js";

type MessageTag = Schema<"MessageTag">;
type SendRequest = Schema<"FacebookSendRequest">;
type SendResult = Schema<"FacebookSendResult">;
type SendMethod = SendResult["method"];
type MatchedBy = NonNullable<SendResult["matched_by"]>;
type Recipient = Schema<"FacebookRecipient">;

/** The largest Graph answer to a send that is read. */
const SEND_ANSWER_MAX_BYTES = 64 * 1024;
/** The largest comments listing that is read (200 comments of a busy live video fit easily). */
const COMMENTS_ANSWER_MAX_BYTES = 1024 * 1024;
/** Comments listed per post when looking for the customer's (the original proxy's page size). */
const COMMENTS_PAGE_SIZE = 200;
/** At most this many of the customer's comments found on the post are tried for a private reply. */
const MAX_SEARCHED_COMMENTS = 10;

/** What a send will do, read from the request the pages send. */
interface SendPlan {
  readonly pageId: string;
  readonly pageToken: string;
  /** Who gets the message: a person, or (a private reply) a comment. */
  readonly recipient: Recipient;
  /** The tag of MESSAGE_TAG sends; undefined for RESPONSE (and for private replies). */
  readonly tag: MessageTag | undefined;
  /** The parts, in order: the images, then the text. */
  readonly parts: readonly { readonly step: string; readonly message: Record<string, unknown> }[];
  /** The window fallback's private reply, when there is text and somewhere to look for comments. */
  readonly fallback: {
    readonly text: string;
    readonly knownCommentIds: readonly string[];
    readonly postId: string | undefined;
    /** The customer's id, to match the commenter with. */
    readonly customerId: string | undefined;
    readonly customerName: string | undefined;
  } | null;
}

/** A non-blank string, else undefined (the pages send `''` for what they do not know). */
function given(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

function refused(problems: readonly ErrorDetail[]): ApiError {
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  return new ApiError("VALIDATION_FAILED", `${first?.path?.join(".")}: ${first?.message}${more}`, {
    details: problems,
    nothingSent: true,
  });
}

/**
 * Reads the request into a plan, refusing with 400 VALIDATION_FAILED what the schema cannot say:
 * no token, nobody to send to, nothing to send, a tag without useTag, images in a private reply.
 */
function planOf(body: SendRequest, headerToken: string | undefined): SendPlan {
  const problems: ErrorDetail[] = [];
  const pageToken = body.pageToken ?? headerToken;
  if (pageToken === undefined) {
    problems.push({
      path: ["body", "pageToken"],
      message: "is required (or send the page token in the X-Page-Access-Token header)",
    });
  }
  const commentId = given(body.commentId);
  const recipient: Recipient | undefined =
    commentId !== undefined
      ? { comment_id: commentId }
      : (body.recipient ?? (body.psid === undefined ? undefined : { id: body.psid }));
  if (recipient === undefined) {
    problems.push({ path: ["body", "psid"], message: "is required (or recipient, or commentId)" });
  }
  const privateReply = recipient !== undefined && "comment_id" in recipient;

  const message = body.message;
  const text =
    typeof message === "string"
      ? given(message)
      : message !== undefined && "text" in message
        ? given(message.text)
        : undefined;
  const textPart =
    typeof message === "string"
      ? text === undefined
        ? undefined
        : { text }
      : message !== undefined && ("attachment" in message || text !== undefined)
        ? { ...message }
        : undefined;
  const images = body.imageUrls ?? [];
  if (textPart === undefined && images.length === 0) {
    problems.push({
      path: ["body", "message"],
      message: "is required when imageUrls is empty (send text, images or both)",
    });
  }
  if (body.tag !== undefined && body.useTag !== true) {
    problems.push({ path: ["body", "tag"], message: "is used only with useTag: true" });
  }
  if (privateReply && images.length > 0) {
    problems.push({
      path: ["body", "imageUrls"],
      message: "must be empty for a private reply (a private reply carries text only)",
    });
  }
  if (privateReply && textPart !== undefined && text === undefined) {
    problems.push({ path: ["body", "message"], message: "must be text for a private reply" });
  }
  if (problems.length > 0 || pageToken === undefined || recipient === undefined) {
    throw refused(problems);
  }

  // One step per part, named by its place: a keyed retry (same body) finds each one again.
  const parts: { step: string; message: Record<string, unknown> }[] = images.map((url, index) => ({
    step: `image:${index}`,
    message: { attachment: { type: "image", payload: { url, is_reusable: true } } },
  }));
  if (textPart !== undefined) {
    parts.push({ step: "text", message: textPart });
  }
  const knownCommentIds = [...new Set(body.knownCommentIds ?? [])];
  const postId = given(body.postId);
  const fallback =
    !privateReply && text !== undefined && (knownCommentIds.length > 0 || postId !== undefined)
      ? {
          text,
          knownCommentIds,
          postId,
          customerId: body.psid ?? ("id" in recipient ? recipient.id : undefined),
          customerName: given(body.customerName),
        }
      : null;
  return {
    pageId: body.pageId,
    pageToken,
    recipient,
    tag: privateReply || body.useTag !== true ? undefined : (body.tag ?? "HUMAN_AGENT"),
    parts,
    fallback,
  };
}

/** One message Graph accepted: what the answer reports and what a keyed call records as done. */
interface SentPart {
  readonly message_id: string;
  readonly recipient_id?: string;
  readonly method: SendMethod;
  readonly messaging_type?: "RESPONSE" | "MESSAGE_TAG";
  readonly tag?: MessageTag;
  readonly comment_id?: string;
  readonly matched_by?: MatchedBy;
}

const METHODS: ReadonlySet<unknown> = new Set<SendMethod>([
  "send_api",
  "private_reply",
  "private_reply_known",
]);

/** A part an earlier attempt recorded, or undefined. */
function recorded(value: unknown): SentPart | undefined {
  const part = value as Partial<SentPart> | null | undefined;
  return typeof part === "object" &&
    part !== null &&
    typeof part.message_id === "string" &&
    METHODS.has(part.method)
    ? (part as SentPart)
    : undefined;
}

function graphUrl(deps: SharedDeps, path: string, pageToken: string): URL {
  const url = joinUrl(deps.config.graphBaseUrl, `/${deps.config.graphVersion}/${path}`);
  url.searchParams.set("access_token", pageToken);
  return url;
}

/** One POST to Graph's Send API, never retried; a refusal is thrown as our error. */
async function postMessage(
  deps: SharedDeps,
  plan: SendPlan,
  recipient: Recipient,
  message: Record<string, unknown>,
): Promise<{ message_id: string; recipient_id?: string }> {
  const payload: Record<string, unknown> = { recipient, message };
  // A private reply goes without messaging_type (notes/upstreams.md 5.4b).
  if (!("comment_id" in recipient)) {
    payload.messaging_type = plan.tag === undefined ? "RESPONSE" : "MESSAGE_TAG";
    if (plan.tag !== undefined) {
      payload.tag = plan.tag;
    }
  }
  const response = await callUpstream(
    deps.upstream,
    {
      url: graphUrl(deps, `${plan.pageId}/messages`, plan.pageToken),
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(payload),
      timeoutMs: deps.config.upstreamTimeoutMs,
      maxBodyBytes: SEND_ANSWER_MAX_BYTES,
      guarded: false,
      ...(deps.signal ? { signal: deps.signal } : {}),
    },
    "Facebook",
  );
  const body = await readJson(response, "Facebook", SEND_ANSWER_MAX_BYTES).catch((error: unknown) => {
    if (response.status >= 400) {
      return null;
    }
    throw error;
  });
  if (response.status < 200 || response.status >= 300) {
    throw graphError(response.status, body, "comment_id" in recipient ? undefined : plan.tag);
  }
  const sent = body as { recipient_id?: unknown; message_id?: unknown } | null;
  if (sent === null || typeof sent.message_id !== "string") {
    throw new ApiError(
      "UPSTREAM_BAD_RESPONSE",
      "Facebook accepted the send but answered without a message id.",
    );
  }
  return {
    message_id: sent.message_id,
    ...(typeof sent.recipient_id === "string" ? { recipient_id: sent.recipient_id } : {}),
  };
}

/** Sends one part to the plan's recipient. */
async function sendPart(
  deps: SharedDeps,
  plan: SendPlan,
  message: Record<string, unknown>,
): Promise<SentPart> {
  const sent = await postMessage(deps, plan, plan.recipient, message);
  if ("comment_id" in plan.recipient) {
    return { ...sent, method: "private_reply", comment_id: plan.recipient.comment_id };
  }
  return plan.tag === undefined
    ? { ...sent, method: "send_api", messaging_type: "RESPONSE" }
    : { ...sent, method: "send_api", messaging_type: "MESSAGE_TAG", tag: plan.tag };
}

/** A comment as Graph lists it with `fields=from{id,name},id,message,created_time`. */
interface GraphComment {
  readonly id: string;
  readonly from?: { readonly id?: unknown; readonly name?: unknown };
}

function sameName(a: string, b: string): boolean {
  const norm = (name: string) => name.normalize("NFC").trim().replace(/\s+/g, " ").toLowerCase();
  return norm(a) === norm(b);
}

/**
 * The customer's comments on the post, newest first: those whose commenter id is the customer's,
 * then those whose commenter name is the customer's (ignoring case). A post id `{page}_{post}`
 * Graph does not know is tried again as the bare `{post}` (a live video's id, say). Reading is
 * safe: a listing that fails is noted in `notes` and counts as no comment found.
 */
async function customerComments(
  deps: SharedDeps,
  plan: SendPlan,
  fallback: NonNullable<SendPlan["fallback"]>,
  notes: ErrorDetail[],
): Promise<{ id: string; by: MatchedBy }[]> {
  const postId = fallback.postId;
  if (postId === undefined) {
    return [];
  }
  const objects = postId.includes("_") ? [postId, postId.slice(postId.indexOf("_") + 1)] : [postId];
  for (const object of objects) {
    const url = graphUrl(deps, `${object}/comments`, plan.pageToken);
    url.searchParams.set("fields", "from{id,name},id,message,created_time");
    url.searchParams.set("limit", String(COMMENTS_PAGE_SIZE));
    url.searchParams.set("order", "reverse_chronological");
    url.searchParams.set("filter", "stream");
    let listing: unknown;
    try {
      const response = await callUpstream(
        deps.upstream,
        {
          url,
          method: "GET",
          headers: { accept: "application/json" },
          timeoutMs: deps.config.upstreamTimeoutMs,
          maxBodyBytes: COMMENTS_ANSWER_MAX_BYTES,
          guarded: false,
          ...(deps.signal ? { signal: deps.signal } : {}),
        },
        "Facebook",
      );
      listing = await readJson(response, "Facebook", COMMENTS_ANSWER_MAX_BYTES).catch(() => null);
      if (response.status !== 200) {
        const refusal = graphError(response.status, listing, undefined);
        notes.push({
          ...refusal.details?.[0],
          message: `comments of ${object}: ${refusal.details?.[0]?.message}`,
        });
        continue;
      }
    } catch (error) {
      notes.push({
        message: `comments of ${object}: ${error instanceof Error ? error.message : "unreadable"}`,
      });
      continue;
    }
    const data = (listing as { data?: unknown } | null)?.data;
    const comments = (Array.isArray(data) ? data : []).filter(
      (item): item is GraphComment =>
        typeof item === "object" && item !== null && typeof item.id === "string",
    );
    const byId = comments.filter(
      (comment) => fallback.customerId !== undefined && comment.from?.id === fallback.customerId,
    );
    const name = fallback.customerName;
    const byName =
      name === undefined
        ? []
        : comments.filter(
            (comment) =>
              !byId.includes(comment) &&
              typeof comment.from?.name === "string" &&
              sameName(comment.from.name, name),
          );
    return [
      ...byId.map((comment) => ({ id: comment.id, by: "id" as const })),
      ...byName.map((comment) => ({ id: comment.id, by: "name" as const })),
    ];
  }
  return [];
}

/**
 * The window fallback of the original proxy: Graph refused the direct send for the messaging
 * window (or the person is unavailable), so the text goes as a private reply to one of the
 * customer's comments: each of `knownCommentIds`, then those found on `postId`, until Graph accepts
 * one. Only definite refusals move on to the next comment; anything else (a reply that may have
 * gone out) stops here. When none is accepted, the direct refusal is reported with what was tried.
 */
async function replyPrivately(
  deps: SharedDeps,
  plan: SendPlan,
  fallback: NonNullable<SendPlan["fallback"]>,
  refusal: ApiError,
): Promise<SentPart> {
  const tried = new Set<string>();
  const refusals: ErrorDetail[] = [];
  const notes: ErrorDetail[] = [];
  let alreadyReplied = 0;
  const attempt = async (commentId: string, method: SendMethod, matchedBy: MatchedBy) => {
    tried.add(commentId);
    try {
      const sent = await postMessage(deps, plan, { comment_id: commentId }, { text: fallback.text });
      return { ...sent, method, comment_id: commentId, matched_by: matchedBy };
    } catch (error) {
      if (!isApiError(error) || !error.nothingSent || error.upstreamCode === undefined) {
        throw error;
      }
      if (error.upstreamCode.code === 10900) {
        alreadyReplied += 1;
      }
      const detail = error.details?.[0];
      refusals.push({ ...detail, message: `private reply to comment ${commentId}: ${detail?.message}` });
      return undefined;
    }
  };
  for (const commentId of fallback.knownCommentIds) {
    const sent = await attempt(commentId, "private_reply_known", "known");
    if (sent !== undefined) {
      return sent;
    }
  }
  const found = (await customerComments(deps, plan, fallback, notes)).filter(
    (comment) => !tried.has(comment.id),
  );
  for (const comment of found.slice(0, MAX_SEARCHED_COMMENTS)) {
    const sent = await attempt(comment.id, "private_reply", comment.by);
    if (sent !== undefined) {
      return sent;
    }
  }
  const where = fallback.postId === undefined ? "" : ` on post ${fallback.postId}`;
  const failed = new ApiError(refusal.code, refusal.message, {
    nothingSent: true,
    details: [...(refusal.details ?? []), ...refusals, ...notes],
    ...(refusal.headers === undefined ? {} : { headers: refusal.headers }),
    ...(refusal.upstreamCode === undefined ? {} : { upstreamCode: refusal.upstreamCode }),
  });
  if (tried.size === 0) {
    throw withNote(
      failed,
      `No comment of the customer was found${where} to answer with a private reply instead.`,
    );
  }
  const comments =
    tried.size === 1 ? "the customer's comment" : `each of the customer's ${tried.size} comments`;
  if (alreadyReplied === tried.size) {
    // As the original proxy answered: Graph's "already replied" code, which the pages show.
    throw withNote(
      failed,
      `A private reply was tried instead, but ${comments} found has already had its one private reply; the customer must comment or write again.`,
      { code: 10900 },
    );
  }
  throw withNote(failed, `A private reply to ${comments} found was refused too.`);
}

/** The answer the pages read: success, every message id in order, and how the text went. */
function answer(sent: readonly SentPart[]): SendResult {
  const last = sent.at(-1) as SentPart;
  const recipientId = [...sent].reverse().find((part) => part.recipient_id !== undefined)?.recipient_id;
  const result: SendResult = {
    success: true,
    ...(recipientId === undefined ? {} : { recipient_id: recipientId }),
    message_id: last.message_id,
    message_ids: sent.map((part) => part.message_id),
    used_tag: last.method === "send_api" ? (last.tag ?? null) : "PRIVATE_REPLY",
    method: last.method,
  };
  for (const key of ["messaging_type", "tag", "comment_id", "matched_by"] as const) {
    if (last[key] !== undefined) {
      Object.assign(result, { [key]: last[key] });
    }
  }
  return result;
}

/**
 * POST /api/facebook-send, as the shop's pages call it: the images (one Graph send each), then the
 * text, to a person (RESPONSE, or MESSAGE_TAG with `tag` under `useTag`) or, as a private reply, to
 * a comment; a direct send refused for the messaging window falls back to a private reply to the
 * customer's comment. Never retried here. Under an Idempotency-Key every part that went out is
 * recorded (`deps.progress`), so a retry after a definite refusal part-way sends only the rest.
 */
export const sendFacebookMessage: SharedHandler<"sendFacebookMessage"> = async (input, deps) => {
  const plan = planOf(input.body, input.headers["x-page-access-token"]);
  const progress = deps.progress;
  const repliedInstead = recorded(progress?.get("text"));
  if (repliedInstead !== undefined && repliedInstead.method !== "send_api") {
    // An earlier attempt already answered with a private reply instead (its images were never sent).
    return { status: 200, body: answer([repliedInstead]) };
  }
  const sent: SentPart[] = [];
  for (const part of plan.parts) {
    const earlier = recorded(progress?.get(part.step));
    if (earlier !== undefined) {
      sent.push(earlier);
      continue;
    }
    let done: SentPart;
    try {
      done = await sendPart(deps, plan, part.message);
    } catch (error) {
      if (sent.length === 0 && plan.fallback !== null && refusedForWindow(error)) {
        const reply = await replyPrivately(deps, plan, plan.fallback, error);
        await progress?.record("text", reply);
        return { status: 200, body: answer([reply]) };
      }
      if (sent.length > 0 && isApiError(error)) {
        const count = `${sent.length} of the ${plan.parts.length} parts of this send`;
        throw withNote(
          error,
          error.nothingSent
            ? `(${count} had already gone out; a retry with the same Idempotency-Key sends only the rest.)`
            : `(${count} had already gone out.)`,
        );
      }
      throw error;
    }
    await progress?.record(part.step, done);
    sent.push(done);
  }
  return { status: 200, body: answer(sent) };
};
