import { describe, expect, it } from "vitest";
import { useStarted } from "../lifecycle.js";
import { FAKE_CREDENTIALS } from "./credentials.js";
import { createFakePagesFm, PAGES_FM_INVALID_TOKEN } from "./pages-fm.js";

const PAGE = FAKE_CREDENTIALS.pageIds[0];
const TOKEN = FAKE_CREDENTIALS.pageAccessTokens[PAGE] ?? "";
const CONV = `${PAGE}_${FAKE_CREDENTIALS.psids.inWindow}`;
const fm = useStarted(createFakePagesFm, { reset: (fake) => fake.reset() });

function url(path: string, params: Record<string, string | number> = {}): string {
  const q = new URLSearchParams({
    page_access_token: TOKEN,
    ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
  });
  return `${fm().url}/api/public_api/v1/pages/${PAGE}${path}?${q}`;
}

const nowS = (): number => Math.floor(Date.now() / 1000);

describe("pages.fm public API v1", () => {
  it("rejects a bad page_access_token with error 105", async () => {
    const res = await fetch(
      `${fm().url}/api/public_api/v1/pages/${PAGE}/conversations?page_access_token=nope&since=0&until=1`,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(PAGES_FM_INVALID_TOKEN);
    fm().store.revokePageTokens(PAGE);
    expect(
      ((await (await fetch(url("/conversations", { since: 0, until: 1 }))).json()) as { error_code: number })
        .error_code,
    ).toBe(105);
  });

  it("lists conversations inside [since, until] with total", async () => {
    const res = await fetch(
      url("/conversations", { since: nowS() - 5 * 86_400, until: nowS() + 60, page_number: 1 }),
    );
    const body = (await res.json()) as {
      success: boolean;
      total: number;
      conversations: { id: string; type: string; customers: unknown[] }[];
    };
    expect(body.success).toBe(true);
    expect(body.total).toBe(2); // the 10-day-old thread is outside the range
    expect(body.conversations[0]).toMatchObject({ id: CONV, type: "INBOX" });
    expect(body.conversations[0]?.customers).toHaveLength(1);
    const tooWide = await fetch(url("/conversations", { since: nowS() - 40 * 86_400, until: nowS() }));
    expect(((await tooWide.json()) as { success: boolean }).success).toBe(false);
  });

  it("pages messages: 20 newest, then 25 older", async () => {
    const first = (await (await fetch(url(`/conversations/${CONV}/messages`))).json()) as {
      messages: { message: string }[];
    };
    expect(first.messages).toHaveLength(20);
    expect(first.messages.at(-1)?.message).toBe("tin 30");
    const older = (await (
      await fetch(url(`/conversations/${CONV}/messages`, { current_count: 20 }))
    ).json()) as {
      messages: { message: string }[];
    };
    expect(older.messages.map((m) => m.message)).toEqual(
      Array.from({ length: 10 }, (_, i) => `tin ${i + 1}`),
    );
  });

  it("records replies and passes flat Facebook errors through", async () => {
    const post = (body: unknown): Promise<Response> =>
      fetch(url(`/conversations/${CONV}/messages`), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const ok = (await (await post({ action: "reply_inbox", message: "Dạ còn ạ" })).json()) as {
      success: boolean;
      id: string;
    };
    expect(ok.success).toBe(true);
    expect(fm().sent).toHaveLength(1);
    expect(fm().sent[0]?.message.message).toBe("Dạ còn ạ");
    fm().queueSendError({
      e_code: 10,
      e_subcode: 2018278,
      message: "Tin nhắn gửi ngoài khoảng thời gian cho phép",
    });
    const failed = await (await post({ action: "reply_inbox", message: "x" })).json();
    expect(failed).toMatchObject({ success: false, e_code: 10, e_subcode: 2018278 });
    const invalid = (await (await post({ action: "private_replies", message: "x" })).json()) as {
      success: boolean;
    };
    expect(invalid.success).toBe(false);
    expect(fm().sent).toHaveLength(1);
  });
});
