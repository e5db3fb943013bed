import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FAKE_CREDENTIALS } from "./credentials.js";
import { TINY_JPEG } from "./images.js";
import type { FakePancake, FakePancakeContent } from "./pancake.js";
import {
  createFakePancake,
  createFakePancakeContent,
  PANCAKE_INVALID_TOKEN,
  pancakeAvatarHash,
} from "./pancake.js";

const jwt = FAKE_CREDENTIALS.pancake.jwt;
const [PAGE, PAGE2] = FAKE_CREDENTIALS.pageIds;
let pancake: FakePancake;
let content: FakePancakeContent;

beforeAll(async () => {
  content = await createFakePancakeContent({ fbIds: [FAKE_CREDENTIALS.psids.inWindow] });
  pancake = await createFakePancake({ contentBaseUrl: content.url });
});
afterAll(async () => {
  await Promise.all([pancake.close(), content.close()]);
});
beforeEach(() => {
  pancake.reset();
  content.reset();
  pancake.setContentBaseUrl(content.url);
});

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${pancake.url}/api/v1${path}`, {
    ...init,
    headers: { cookie: `jwt=${jwt}; locale=vi`, ...init.headers },
  });
}

describe("pancake.vn /api/v1", () => {
  it("answers error 102 with HTTP 200 without a valid jwt, configurable status", async () => {
    const res = await fetch(`${pancake.url}/api/v1/pages`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(PANCAKE_INVALID_TOKEN);
    pancake.setErrorStatus(401);
    const bad = await fetch(`${pancake.url}/api/v1/pages`, { headers: { cookie: "jwt=eyJnope" } });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error_code: number }).error_code).toBe(102);
  });

  it("lists pages via cookie or access_token query", async () => {
    const viaQuery = await fetch(`${pancake.url}/api/v1/pages?access_token=${jwt}`);
    const body = (await viaQuery.json()) as {
      success: boolean;
      categorized: { activated: { id: string; settings: { page_access_token: string } }[] };
    };
    expect(body.success).toBe(true);
    expect(body.categorized.activated.map((p) => p.id)).toEqual([PAGE, PAGE2]);
    expect(body.categorized.activated[0]?.settings.page_access_token).toBe(
      FAKE_CREDENTIALS.pageAccessTokens[PAGE],
    );
  });

  it("pages conversations with per-page cursors", async () => {
    const first = (await (
      await api(`/conversations?pages[${PAGE}]=0&unread_first=true&cursor_mode=true`)
    ).json()) as {
      conversations: { id: string; page_id: string }[];
      pages_with_current_count: Record<string, number>;
    };
    expect(first.conversations).toHaveLength(3);
    expect(first.conversations[0]?.id).toBe(`${PAGE}_${FAKE_CREDENTIALS.psids.inWindow}`);
    expect(first.pages_with_current_count).toEqual({ [PAGE]: 3 });
    const next = (await (await api(`/conversations?pages[${PAGE}]=3`)).json()) as {
      conversations: unknown[];
    };
    expect(next.conversations).toEqual([]);
  });

  it("fails the whole multi-page call with 122 when one page expired", async () => {
    pancake.store.expirePage(PAGE2 ?? "");
    const res = await api(`/conversations?pages[${PAGE}]=0&pages[${PAGE2}]=0`);
    expect(await res.json()).toEqual({
      success: false,
      error_code: 122,
      message: "Gói cước hết hạn",
      errors: [{ page_id: PAGE2, error_code: 122 }],
    });
  });

  it("finds a conversation or answers the documented miss body", async () => {
    const hit = (await (
      await api(`/pages/${PAGE}/conversations/${PAGE}_${FAKE_CREDENTIALS.psids.inWindow}`)
    ).json()) as {
      conversation: { page_id: string };
    };
    expect(hit.conversation.page_id).toBe(PAGE);
    const miss = await api(`/pages/${PAGE}/conversations/${PAGE}_999`);
    expect(await miss.json()).toEqual({
      existed: false,
      success: false,
      message: "Hội thoại này không tồn tại",
    });
  });

  it("generates a new page access token", async () => {
    const res = (await (
      await api(`/pages/${PAGE}/generate_page_access_token`, { method: "POST" })
    ).json()) as {
      success: boolean;
      page_access_token: string;
    };
    expect(res.success).toBe(true);
    expect(pancake.store.pageTokens.get(PAGE ?? "")?.has(res.page_access_token)).toBe(true);
  });

  it("searches conversations by customer name", async () => {
    const res = await api(`/conversations/search?q=0001&cursor_mode=true`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `page_ids=${PAGE}`,
    });
    const body = (await res.json()) as { conversations: { id: string }[] };
    expect(body.conversations.map((c) => c.id)).toEqual([`${PAGE}_${FAKE_CREDENTIALS.psids.inWindow}`]);
  });

  it("reads page_ids from a multipart FormData body, as the inbox sends it", async () => {
    const form = new FormData();
    form.append("page_ids", "000000000000000");
    const none = await api(`/conversations/search?q=0001&cursor_mode=true`, { method: "POST", body: form });
    expect(((await none.json()) as { conversations: unknown[] }).conversations).toEqual([]);
    const mine = new FormData();
    mine.append("page_ids", PAGE);
    const found = await api(`/conversations/search?q=0001&cursor_mode=true`, { method: "POST", body: mine });
    expect(((await found.json()) as { conversations: unknown[] }).conversations).toHaveLength(1);
  });
});

describe("avatars", () => {
  it("redirects to the content fake, which serves a JPEG for known ids and 404 otherwise", async () => {
    const psid = FAKE_CREDENTIALS.psids.inWindow;
    const res = await fetch(`${pancake.url}/api/v1/pages/${PAGE}/avatar/${psid}`, { redirect: "manual" });
    expect(res.status).toBe(302);
    const location = res.headers.get("location") ?? "";
    expect(location).toBe(`${content.url}/2.1-24/avatars/${pancakeAvatarHash(psid)}`);
    const img = await fetch(location);
    expect(img.headers.get("content-type")).toBe("image/jpeg");
    expect(Buffer.from(await img.arrayBuffer()).equals(TINY_JPEG)).toBe(true);
    const unknown = await fetch(`${content.url}/2.1-24/avatars/${pancakeAvatarHash("nobody")}`);
    expect(unknown.status).toBe(404);
    content.addAvatar("nobody");
    expect((await fetch(content.avatarUrl("nobody"))).status).toBe(200);
  });
});
