/**
 * Shared Pancake world state (users, pages, page tokens, expired subscriptions, conversations,
 * messages) plus builders of Pancake-shaped objects. One store can back the pancake.vn fake, the
 * pages.fm fake and the Phoenix fake at once, so "expire this page" or "regenerate this token" is
 * seen consistently by REST and realtime. Shapes: upstreams.md §2.2 and §3.5.
 */
import { FAKE_CREDENTIALS } from "./credentials.js";
import { randomHex } from "./server.js";

/** A Pancake conversation as REST lists and realtime pushes carry it. */
export type PancakeConversation = Record<string, unknown> & {
  id: string;
  page_id: string;
  type: string;
  updated_at: string;
  inserted_at: string;
  customers: { id: string; fb_id: string; name: string }[];
  tags: number[];
};

/** A Pancake message (REST shape, reused for `pages:new_message`). */
export type PancakeMessage = Record<string, unknown> & {
  id: string;
  conversation_id: string;
  page_id: string;
  inserted_at: string;
  message: string;
};

/** A page as listed by `GET /api/v1/pages`. */
interface PancakePage {
  id: string;
  name: string;
}

/** Pancake timestamps: ISO without zone, with microseconds (`2026-05-15T03:30:31.123000`). */
function pancakeTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, -1)}000`;
}

/** Input of `buildConversation`; everything but page and PSID has a realistic default. */
export interface ConversationInput {
  pageId: string;
  psid: string;
  customerName?: string;
  customerId?: string;
  snippet?: string;
  unreadCount?: number;
  type?: "INBOX" | "COMMENT";
  /** COMMENT conversations are `{postId}_{commentId}`; INBOX ones `{pageId}_{psid}`. */
  postId?: string | null;
  commentId?: string;
  updatedAt?: number;
  insertedAt?: number;
  seen?: boolean;
  tags?: number[];
  messageCount?: number;
  hasPhone?: boolean;
}

/** Builds a conversation with the keys observed in the realtime trace and the public API docs. */
export function buildConversation(input: ConversationInput): PancakeConversation {
  const updated = input.updatedAt ?? Date.now();
  const name = input.customerName ?? `Khách ${input.psid.slice(-4)}`;
  const customer = { fb_id: input.psid, id: input.customerId ?? `cus-${input.psid}`, name };
  const type = input.type ?? "INBOX";
  const postId = input.postId ?? null;
  const id =
    type === "COMMENT"
      ? `${postId ?? input.pageId}_${input.commentId ?? input.psid}`
      : `${input.pageId}_${input.psid}`;
  return {
    id,
    type,
    tags: input.tags ?? [],
    success: true,
    extra_info: {},
    seen: input.seen ?? false,
    from: { id: input.psid, name },
    post: postId === null ? null : { type: "livestream", status_type: "added_video" },
    snippet: input.snippet ?? "Shop ơi còn hàng không?",
    inserted_at: pancakeTime(input.insertedAt ?? updated - 86_400_000),
    updated_at: pancakeTime(updated),
    message_count: input.messageCount ?? 1,
    page_id: input.pageId,
    thread_id: `t_${input.psid}`,
    last_sent_by: { id: input.psid, name },
    assignee_ids: [],
    recent_seen_users: null,
    customers: [customer],
    customer_id: customer.id,
    is_combined: false,
    post_id: postId,
    unread_count: input.unreadCount ?? 1,
    has_phone: input.hasPhone ?? false,
  };
}

/** Input of `buildMessage`. */
export interface MessageInput {
  pageId: string;
  conversationId: string;
  fromId: string;
  fromName?: string;
  message?: string;
  insertedAt?: number;
  id?: string;
  type?: "INBOX" | "COMMENT";
}

/** Builds a message in the REST shape (the realtime `pages:new_message` shape is UNCERTAIN). */
export function buildMessage(input: MessageInput): PancakeMessage {
  const text = input.message ?? "Cho mình xin giá";
  return {
    id: input.id ?? `m_${randomHex(12)}`,
    conversation_id: input.conversationId,
    page_id: input.pageId,
    from: { id: input.fromId, name: input.fromName ?? "Khách", email: `${input.fromId}@facebook.com` },
    message: text,
    original_message: text,
    inserted_at: pancakeTime(input.insertedAt ?? Date.now()),
    type: input.type ?? "INBOX",
    attachments: [],
    is_removed: false,
  };
}

/** The mutable Pancake world. */
export interface PancakeStore {
  userId: string;
  /** Accepted user JWTs (cookie `jwt` / `access_token` query / Phoenix `accessToken`). */
  jwts: Set<string>;
  pages: PancakePage[];
  /** Valid pages.fm `page_access_token`s per page id. */
  pageTokens: Map<string, Set<string>>;
  /** Pages whose subscription has expired (error 122). */
  expiredPages: Set<string>;
  conversations: PancakeConversation[];
  messages: PancakeMessage[];
  /** Marks a page's subscription expired (or active again). */
  expirePage(pageId: string, expired?: boolean): void;
  /** Issues a new page access token; `revokeOld` invalidates the previous ones. */
  issuePageToken(pageId: string, revokeOld?: boolean): string;
  /** Invalidates every page access token of a page (pages.fm then answers error 105). */
  revokePageTokens(pageId: string): void;
  /** Restores the seed. */
  reset(): void;
}

/** Options of `createPancakeStore`. */
export interface PancakeStoreOptions {
  userId?: string;
  jwts?: string[];
  pages?: PancakePage[];
  /** Initial page tokens; defaults to `FAKE_CREDENTIALS.pageAccessTokens`. */
  pageTokens?: Record<string, string>;
  expiredPages?: string[];
  /** Replaces the seeded conversations and messages. */
  conversations?: PancakeConversation[];
  messages?: PancakeMessage[];
}

function seedData(pages: PancakePage[]): {
  conversations: PancakeConversation[];
  messages: PancakeMessage[];
} {
  const now = Date.now();
  const ps = FAKE_CREDENTIALS.psids;
  const ages: [string, number][] = [
    [ps.inWindow, 3_600_000],
    [ps.outsideWindow, 3 * 86_400_000],
    [ps.beyondHumanAgent, 10 * 86_400_000],
  ];
  const conversations: PancakeConversation[] = [];
  const messages: PancakeMessage[] = [];
  for (const page of pages) {
    for (const [psid, age] of ages) {
      const conv = buildConversation({
        pageId: page.id,
        psid,
        updatedAt: now - age,
        hasPhone: psid === ps.inWindow,
      });
      conversations.push(conv);
      // 30 messages on the freshest thread exercise the "20 newest, then 25 older" paging.
      const count = psid === ps.inWindow ? 30 : 2;
      for (let i = 0; i < count; i++) {
        messages.push(
          buildMessage({
            pageId: page.id,
            conversationId: conv.id,
            fromId: i % 2 === 0 ? psid : page.id,
            fromName: i % 2 === 0 ? "Khách" : page.name,
            message: `tin ${i + 1}`,
            id: `m_${conv.id}_${i + 1}`,
            insertedAt: now - age - (count - 1 - i) * 60_000,
          }),
        );
      }
    }
  }
  return { conversations, messages };
}

/** Creates a store seeded with the two shop pages and three conversations each. */
export function createPancakeStore(options: PancakeStoreOptions = {}): PancakeStore {
  const pages = options.pages ?? [
    { id: FAKE_CREDENTIALS.pageIds[0], name: "Nhi Judy Store" },
    { id: FAKE_CREDENTIALS.pageIds[1], name: "Nhi Judy House" },
  ];
  const store: PancakeStore = {
    userId: options.userId ?? FAKE_CREDENTIALS.pancake.userId,
    jwts: new Set(),
    pages,
    pageTokens: new Map(),
    expiredPages: new Set(),
    conversations: [],
    messages: [],
    expirePage(pageId, expired = true) {
      if (expired) {
        store.expiredPages.add(pageId);
      } else {
        store.expiredPages.delete(pageId);
      }
    },
    issuePageToken(pageId, revokeOld = false) {
      const token = `pat-${pageId}-${randomHex(8)}`;
      const set = revokeOld ? new Set<string>() : (store.pageTokens.get(pageId) ?? new Set<string>());
      set.add(token);
      store.pageTokens.set(pageId, set);
      return token;
    },
    revokePageTokens(pageId) {
      store.pageTokens.set(pageId, new Set());
    },
    reset() {
      store.jwts = new Set(options.jwts ?? [FAKE_CREDENTIALS.pancake.jwt]);
      store.pageTokens.clear();
      for (const [pid, tok] of Object.entries(options.pageTokens ?? FAKE_CREDENTIALS.pageAccessTokens)) {
        store.pageTokens.set(pid, new Set([tok]));
      }
      store.expiredPages = new Set(options.expiredPages ?? []);
      const seeded = seedData(pages);
      store.conversations = structuredClone(options.conversations ?? seeded.conversations);
      store.messages = structuredClone(options.messages ?? seeded.messages);
    },
  };
  store.reset();
  return store;
}
