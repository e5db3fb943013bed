/**
 * Fake pancake.vn internal API (`/api/v1/...`, user JWT in `Cookie: jwt=` or `?access_token=`) and
 * fake content.pancake.vn avatars. Errors come as JSON bodies with HTTP 200 by default, as the
 * clients observed (upstreams.md §2.3; the real status is UNCERTAIN, hence `errorStatus`).
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import { TINY_JPEG } from "./images.js";
import type { PancakeConversation, PancakeStore } from "./pancake-data.js";
import { createPancakeStore } from "./pancake-data.js";
import type { FakeHandle, FakeRequest } from "./server.js";
import { baseHandle, redirect, sendBody, sendJson, startFakeServer } from "./server.js";

/** The body pancake.vn answers for a missing, wrong or expired user token. */
export const PANCAKE_INVALID_TOKEN = { success: false, error_code: 102, message: "Invalid access_token" };

/** The content.pancake.vn avatar hash the fake uses for a Facebook id (a SHA-1, like the real ones). */
export function pancakeAvatarHash(fbId: string): string {
  return createHash("sha1").update(`avatar:${fbId}`).digest("hex");
}

/** Options of `createFakePancake`. */
export interface FakePancakeOptions {
  /** Shared world state; a fresh seeded store when omitted. */
  store?: PancakeStore;
  /** HTTP status used with `error_code` bodies (default 200, UNCERTAIN). */
  errorStatus?: number;
  /** Where avatar redirects point (default `https://content.pancake.vn`; use the content fake's URL in tests). */
  contentBaseUrl?: string;
  /** Conversations per page of `GET /conversations` (default 60, UNCERTAIN). */
  pageSize?: number;
  /** UNCERTAIN whether the avatar route needs the user token; default false. */
  avatarRequiresAuth?: boolean;
  /** UNCERTAIN whether generating a page token revokes the previous one; default false. */
  revokeOldPageTokens?: boolean;
}

/** Handle of the pancake.vn fake. */
export interface FakePancake extends FakeHandle {
  store: PancakeStore;
  setErrorStatus(status: number): void;
  setContentBaseUrl(url: string): void;
}

function cookieJwt(cookie: string | undefined): string | undefined {
  for (const part of (cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === "jwt") {
      return v.join("=");
    }
  }
  return undefined;
}

function byUpdatedDesc(a: PancakeConversation, b: PancakeConversation): number {
  return a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0;
}

/** Starts the pancake.vn fake. */
export async function createFakePancake(options: FakePancakeOptions = {}): Promise<FakePancake> {
  const store = options.store ?? createPancakeStore();
  let errorStatus = options.errorStatus ?? 200;
  let contentBaseUrl = options.contentBaseUrl ?? "https://content.pancake.vn";
  const pageSize = options.pageSize ?? 60;

  const fail = (res: ServerResponse, body: unknown): void => sendJson(res, errorStatus, body);
  const expired = (res: ServerResponse, pageIds: string[]): boolean => {
    const bad = pageIds.filter((p) => store.expiredPages.has(p));
    if (bad.length > 0) {
      // One expired page fails the whole multi-page call, with a per-page breakdown.
      fail(res, {
        success: false,
        error_code: 122,
        message: "Gói cước hết hạn",
        errors: bad.map((page_id) => ({ page_id, error_code: 122 })),
      });
      return true;
    }
    return false;
  };

  const listConversations = (req: FakeRequest, res: ServerResponse): void => {
    const cursors = new Map<string, number>();
    for (const [k, v] of req.query) {
      const m = /^pages\[(.+)\]$/.exec(k);
      if (m?.[1] !== undefined) {
        cursors.set(m[1], Number(v) || 0);
      }
    }
    const pageIds = cursors.size > 0 ? [...cursors.keys()] : store.pages.map((p) => p.id);
    if (expired(res, pageIds)) {
      return;
    }
    // Each page keeps its own cursor (`pages[pid]=n`); the merged page is the newest `pageSize`.
    const candidates = pageIds.flatMap((pid) =>
      store.conversations
        .filter((c) => c.page_id === pid)
        .sort(byUpdatedDesc)
        .slice(cursors.get(pid) ?? 0),
    );
    const page = candidates.sort(byUpdatedDesc).slice(0, pageSize);
    const counts: Record<string, number> = {};
    for (const pid of pageIds) {
      counts[pid] = (cursors.get(pid) ?? 0) + page.filter((c) => c.page_id === pid).length;
    }
    sendJson(res, 200, { conversations: page, pages_with_current_count: counts });
  };

  const srv = await startFakeServer({
    echo: true,
    handler: async (req, res) => {
      const jwt = cookieJwt(req.headers.cookie);
      const token = req.query.get("access_token");
      const authed = (jwt !== undefined && store.jwts.has(jwt)) || (token !== null && store.jwts.has(token));
      const avatar = /^\/api\/v1\/pages\/([^/]+)\/avatar(?:\/([^/]+))?$/.exec(req.path);
      if (avatar !== null && req.method === "GET" && (authed || options.avatarRequiresAuth !== true)) {
        const fbId = avatar[2] ?? avatar[1] ?? "";
        redirect(res, `${contentBaseUrl}/2.1-24/avatars/${pancakeAvatarHash(fbId)}`);
        return;
      }
      if (!req.path.startsWith("/api/v1/")) {
        sendJson(res, 404, { success: false, message: "Not found" });
        return;
      }
      if (!authed) {
        fail(res, PANCAKE_INVALID_TOKEN);
        return;
      }
      const path = req.path.slice("/api/v1".length);
      if (req.method === "GET" && path === "/pages") {
        const activated = store.pages.map((p) => ({
          id: p.id,
          name: p.name,
          platform: p.id.startsWith("igo_") ? "instagram_official" : "facebook",
          settings: { page_access_token: [...(store.pageTokens.get(p.id) ?? [])].at(-1) ?? null },
        }));
        sendJson(res, 200, {
          success: true,
          categorized: { activated, activated_page_ids: activated.map((p) => p.id) },
        });
        return;
      }
      if (req.method === "GET" && path === "/conversations") {
        listConversations(req, res);
        return;
      }
      if (req.method === "POST" && path === "/conversations/search") {
        // The inbox sends a multipart FormData body; other callers a urlencoded form.
        const form = await formFields(req);
        const ids = (form.get("page_ids") ?? req.query.get("page_ids") ?? "")
          .split(",")
          .filter((s) => s !== "");
        if (expired(res, ids)) {
          return;
        }
        const q = (req.query.get("q") ?? "").toLowerCase();
        const found = store.conversations.filter(
          (c) =>
            (ids.length === 0 || ids.includes(c.page_id)) &&
            (c.customers.some((cu) => cu.name.toLowerCase().includes(q) || cu.fb_id === q) ||
              String(c.snippet).toLowerCase().includes(q)),
        );
        sendJson(res, 200, { conversations: found.sort(byUpdatedDesc) });
        return;
      }
      const conv = /^\/pages\/([^/]+)\/conversations\/([^/]+)$/.exec(path);
      if (req.method === "GET" && conv?.[1] !== undefined) {
        if (expired(res, [conv[1]])) {
          return;
        }
        const found = store.conversations.find((c) => c.page_id === conv[1] && c.id === conv[2]);
        if (found === undefined) {
          fail(res, { existed: false, success: false, message: "Hội thoại này không tồn tại" });
        } else {
          // The hit shape is not captured; clients only read `conversation`.
          sendJson(res, 200, { existed: true, success: true, conversation: found });
        }
        return;
      }
      const gen = /^\/pages\/([^/]+)\/generate_page_access_token$/.exec(path);
      if (req.method === "POST" && gen?.[1] !== undefined) {
        if (!store.pages.some((p) => p.id === gen[1])) {
          fail(res, { success: false, message: "Page not found" });
          return;
        }
        sendJson(res, 200, {
          success: true,
          page_access_token: store.issuePageToken(gen[1], options.revokeOldPageTokens === true),
        });
        return;
      }
      sendJson(res, 404, { success: false, message: "Not found" });
    },
  });

  return {
    ...baseHandle(srv, () => {
      if (options.store === undefined) {
        store.reset();
      }
      errorStatus = options.errorStatus ?? 200;
    }),
    store,
    setErrorStatus(status) {
      errorStatus = status;
    },
    setContentBaseUrl(url) {
      contentBaseUrl = url;
    },
  };
}

/** Options of `createFakePancakeContent`. */
export interface FakePancakeContentOptions {
  /** Facebook ids whose avatars exist (hashed with `pancakeAvatarHash`). */
  fbIds?: string[];
  /** Serve every hash (default false: unknown hashes are 404). */
  acceptAnyHash?: boolean;
}

/** Handle of the content.pancake.vn fake. */
export interface FakePancakeContent extends FakeHandle {
  /** Makes the avatar of `fbId` exist; returns its hash. */
  addAvatar(fbId: string, bytes?: Buffer): string;
  /** Makes an avatar exist under a raw hash. */
  addAvatarHash(hash: string, bytes?: Buffer): void;
  /** The URL the pancake.vn fake would redirect to for `fbId`. */
  avatarUrl(fbId: string): string;
}

/** A form body's fields, multipart (a browser's FormData) or urlencoded; none when it is neither. */
async function formFields(req: FakeRequest): Promise<URLSearchParams> {
  const type = req.headers["content-type"] ?? "";
  if (/^multipart\/form-data/i.test(type)) {
    const data = await new Response(req.body, { headers: { "content-type": type } }).formData();
    const fields = new URLSearchParams();
    for (const [name, value] of data) {
      if (typeof value === "string") {
        fields.append(name, value);
      }
    }
    return fields;
  }
  return new URLSearchParams(req.body);
}

/** Starts the content.pancake.vn fake serving `/2.1-NN/avatars/{hash}`. */
export async function createFakePancakeContent(
  options: FakePancakeContentOptions = {},
): Promise<FakePancakeContent> {
  const avatars = new Map<string, Buffer>();
  const seed = (): void => {
    avatars.clear();
    for (const id of options.fbIds ?? []) {
      avatars.set(pancakeAvatarHash(id), TINY_JPEG);
    }
  };
  seed();
  const srv = await startFakeServer({
    echo: true,
    handler: (req, res) => {
      const m = /^\/2\.1-\d+\/avatars\/([0-9a-zA-Z]+)$/.exec(req.path);
      const hash = m?.[1];
      const bytes =
        hash === undefined
          ? undefined
          : (avatars.get(hash) ?? (options.acceptAnyHash === true ? TINY_JPEG : undefined));
      if (bytes === undefined) {
        sendBody(res, 404, "Not Found", "text/plain");
        return;
      }
      sendBody(res, 200, bytes, "image/jpeg", { "cache-control": "public, max-age=31536000" });
    },
  });
  return {
    ...baseHandle(srv, seed),
    addAvatar(fbId, bytes = TINY_JPEG) {
      const hash = pancakeAvatarHash(fbId);
      avatars.set(hash, bytes);
      return hash;
    },
    addAvatarHash(hash, bytes = TINY_JPEG) {
      avatars.set(hash, bytes);
    },
    avatarUrl(fbId) {
      return `${srv.url}/2.1-24/avatars/${pancakeAvatarHash(fbId)}`;
    },
  };
}
