/**
 * Fake pages.fm public API v1 (`/api/public_api/v1/pages/{pid}/...`, `?page_access_token=`):
 * conversation lists by time range, message history paging (20 newest, then 25 older per page)
 * and replies. Facts: upstreams.md §2.2-2.3. Exact error texts and the reply success body are
 * UNCERTAIN upstream; the fake uses the documented `success`/`error_code` keys.
 */
import type { ServerResponse } from "node:http";
import type { PancakeConversation, PancakeMessage, PancakeStore } from "./pancake-data.js";
import { buildMessage, createPancakeStore } from "./pancake-data.js";
import type { FakeHandle, FakeRequest } from "./server.js";
import { baseHandle, intParam, isRecord, sendJson, startFakeServer, tryJson } from "./server.js";

/** The body pages.fm answers for a bad `page_access_token` (clients regenerate on 105). */
export const PAGES_FM_INVALID_TOKEN = {
  success: false,
  error_code: 105,
  message: "Invalid page_access_token",
};

/** A Facebook error Pancake passes through flat on sends (e.g. 10/2018278, 551). */
interface PagesFmSendError {
  e_code: number;
  e_subcode?: number;
  message: string;
}

/** Options of `createFakePagesFm`. */
export interface FakePagesFmOptions {
  /** Shared world state (pass the pancake fake's store to share tokens and conversations). */
  store?: PancakeStore;
  /** HTTP status used with error bodies (default 200, UNCERTAIN). */
  errorStatus?: number;
  /** Conversations per `page_number` (default 60, UNCERTAIN). */
  pageSize?: number;
  /** Longest allowed `until - since` in seconds (default 31 days; the docs say "≤ 1 month"). */
  maxRangeSeconds?: number;
}

/** A reply the fake accepted. */
interface PagesFmSent {
  pageId: string;
  conversationId: string;
  action: string;
  body: Record<string, unknown>;
  message: PancakeMessage;
}

/** Handle of the pages.fm fake. */
export interface FakePagesFm extends FakeHandle {
  store: PancakeStore;
  /** Accepted replies, in order. */
  readonly sent: PagesFmSent[];
  /** The next `times` sends fail with this flat Facebook error. */
  queueSendError(error: PagesFmSendError, times?: number): void;
  setErrorStatus(status: number): void;
}

const REQUIRED: Record<string, string[]> = {
  reply_inbox: [],
  reply_comment: ["message_id", "message"],
  private_replies: ["post_id", "message_id", "from_id", "message"],
};

function ms(pancakeTime: string): number {
  return Date.parse(`${pancakeTime}Z`);
}

/** Starts the pages.fm fake. */
export async function createFakePagesFm(options: FakePagesFmOptions = {}): Promise<FakePagesFm> {
  const store = options.store ?? createPancakeStore();
  let errorStatus = options.errorStatus ?? 200;
  const pageSize = options.pageSize ?? 60;
  const sent: PagesFmSent[] = [];
  let sendErrors: PagesFmSendError[] = [];
  const fail = (res: ServerResponse, body: unknown): void => sendJson(res, errorStatus, body);

  const listConversations = (pid: string, req: FakeRequest, res: ServerResponse): void => {
    const since = intParam(req.query, "since");
    const until = intParam(req.query, "until");
    if (since === undefined || until === undefined || until < since) {
      fail(res, { success: false, message: "since and until (unix seconds) are required" });
      return;
    }
    if (until - since > (options.maxRangeSeconds ?? 31 * 86_400)) {
      fail(res, { success: false, message: "The time range must not exceed one month" });
      return;
    }
    const key = req.query.get("order_by") === "inserted_at" ? "inserted_at" : "updated_at";
    const tagParam = req.query.get("tags");
    const parsedTags = tagParam === null ? undefined : tryJson(tagParam);
    const tags =
      tagParam === null
        ? []
        : parsedTags?.ok === true && Array.isArray(parsedTags.value)
          ? parsedTags.value.map(Number)
          : tagParam.split(",").map(Number);
    const all = store.conversations
      .filter((c) => c.page_id === pid)
      .filter((c) => ms(c.updated_at) >= since * 1000 && ms(c.updated_at) <= until * 1000)
      .filter((c) => tags.length === 0 || c.tags.some((t) => tags.includes(t)))
      .sort((a, b) => ms(String(b[key])) - ms(String(a[key])));
    const pageNumber = Math.max(1, intParam(req.query, "page_number") ?? 1);
    const conversations = all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    sendJson(res, 200, { conversations, success: true, total: all.length });
  };

  const listMessages = (conv: PancakeConversation, req: FakeRequest, res: ServerResponse): void => {
    const msgs = store.messages
      .filter((m) => m.conversation_id === conv.id)
      .sort((a, b) => ms(a.inserted_at) - ms(b.inserted_at));
    const skip = intParam(req.query, "current_count") ?? 0;
    const end = msgs.length - skip;
    const messages = skip === 0 ? msgs.slice(-20) : msgs.slice(Math.max(0, end - 25), Math.max(0, end));
    sendJson(res, 200, {
      messages,
      success: true,
      conversation: conv,
      customers: conv.customers,
      post: null,
      activities: [],
      notes: [],
      read_watermarks: [],
    });
  };

  const reply = (pid: string, conv: PancakeConversation, req: FakeRequest, res: ServerResponse): void => {
    const parsed = tryJson(req.body);
    const body = parsed.ok && isRecord(parsed.value) ? parsed.value : undefined;
    const action = typeof body?.action === "string" ? body.action : "";
    const required = REQUIRED[action];
    if (body === undefined || required === undefined) {
      fail(res, { success: false, message: `Invalid action '${action}'` });
      return;
    }
    const missing = required.filter((k) => body[k] === undefined || body[k] === "");
    if (action === "reply_inbox" && body.message === undefined && !Array.isArray(body.content_ids)) {
      missing.push("message");
    }
    if (missing.length > 0) {
      fail(res, { success: false, message: `Missing ${missing.join(", ")}` });
      return;
    }
    const err = sendErrors.shift();
    if (err !== undefined) {
      fail(res, { success: false, ...err });
      return;
    }
    const message = buildMessage({
      pageId: pid,
      conversationId: conv.id,
      fromId: pid,
      fromName: store.pages.find((p) => p.id === pid)?.name ?? "Page",
      message: typeof body.message === "string" ? body.message : "",
    });
    store.messages.push(message);
    conv.snippet = message.message;
    conv.updated_at = message.inserted_at;
    sent.push({ pageId: pid, conversationId: conv.id, action, body, message });
    sendJson(res, 200, { success: true, id: message.id, message });
  };

  const srv = await startFakeServer({
    echo: true,
    handler: (req, res) => {
      const m = /^\/api\/public_api\/v1\/pages\/([^/]+)\/conversations(?:\/([^/]+)\/(messages))?$/.exec(
        req.path,
      );
      const pid = m?.[1];
      if (m === null || pid === undefined) {
        sendJson(res, 404, { success: false, message: "Not found" });
        return;
      }
      if (!store.pageTokens.get(pid)?.has(req.query.get("page_access_token") ?? "")) {
        fail(res, PAGES_FM_INVALID_TOKEN);
        return;
      }
      if (store.expiredPages.has(pid)) {
        fail(res, {
          success: false,
          error_code: 122,
          message: "Gói cước hết hạn",
          errors: [{ page_id: pid, error_code: 122 }],
        });
        return;
      }
      if (m[2] === undefined) {
        if (req.method === "GET") {
          listConversations(pid, req, res);
        } else {
          sendJson(res, 405, { success: false, message: "Method not allowed" });
        }
        return;
      }
      const conv = store.conversations.find((c) => c.page_id === pid && c.id === m[2]);
      if (conv === undefined) {
        fail(res, { success: false, message: "Conversation not found" });
      } else if (req.method === "GET") {
        listMessages(conv, req, res);
      } else if (req.method === "POST") {
        reply(pid, conv, req, res);
      } else {
        sendJson(res, 405, { success: false, message: "Method not allowed" });
      }
    },
  });

  return {
    ...baseHandle(srv, () => {
      if (options.store === undefined) {
        store.reset();
      }
      sent.length = 0;
      sendErrors = [];
      errorStatus = options.errorStatus ?? 200;
    }),
    store,
    sent,
    queueSendError(error, times = 1) {
      for (let i = 0; i < times; i++) {
        sendErrors.push(error);
      }
    },
    setErrorStatus(status) {
      errorStatus = status;
    },
  };
}
