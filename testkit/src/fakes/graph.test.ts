import { describe, expect, it } from "vitest";
import { useStarted } from "../lifecycle.js";
import { FAKE_CREDENTIALS } from "./credentials.js";
import { createFakeGraph, GRAPH_ERRORS } from "./graph.js";
import { TINY_PNG } from "./images.js";

const PAGE = FAKE_CREDENTIALS.pageIds[0];
const TOKEN = FAKE_CREDENTIALS.graphPageTokens[PAGE] ?? "";
const { inWindow, outsideWindow, beyondHumanAgent } = FAKE_CREDENTIALS.psids;
const graph = useStarted(createFakeGraph, { reset: (fake) => fake.reset() });

interface GraphError {
  error: { message: string; type: string; code: number; error_subcode?: number; fbtrace_id: string };
}

async function send(
  body: Record<string, unknown>,
  opts: { token?: string; version?: string; page?: string } = {},
): Promise<Response> {
  const version = opts.version === undefined ? "v21.0/" : opts.version === "" ? "" : `${opts.version}/`;
  return fetch(`${graph().url}/${version}${opts.page ?? PAGE}/messages?access_token=${opts.token ?? TOKEN}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

const text = (psid: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  recipient: { id: psid },
  message: { text: "Đơn của bạn đã được gửi" },
  messaging_type: "RESPONSE",
  ...extra,
});

describe("Send API", () => {
  it("sends inside the 24 h window and records exactly one message", async () => {
    const res = await send(text(inWindow));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { recipient_id: string; message_id: string };
    expect(body.recipient_id).toBe(inWindow);
    expect(body.message_id).toMatch(/^m_/);
    expect(graph().sent).toHaveLength(1);
    expect(graph().sent[0]).toMatchObject({
      pageId: PAGE,
      version: "v21.0",
      messagingType: "RESPONSE",
      tag: null,
    });
  });

  it("accepts unversioned paths, /me and form bodies with JSON-string fields", async () => {
    const form = new URLSearchParams({
      recipient: JSON.stringify({ id: inWindow }),
      message: JSON.stringify({ text: "hi" }),
      messaging_type: "UPDATE",
      access_token: TOKEN,
    });
    const res = await fetch(`${graph().url}/me/messages`, { method: "POST", body: form });
    expect(res.status).toBe(200);
    expect((await send(text(inWindow), { version: "" })).status).toBe(200);
    expect(graph().sent.map((s) => s.version)).toEqual([null, null]);
  });

  it("rejects a bad token with 190 OAuthException", async () => {
    const res = await send(text(inWindow), { token: "EAAGbad" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as GraphError;
    expect(body.error).toMatchObject({
      code: 190,
      type: "OAuthException",
      message: "Invalid OAuth access token.",
    });
    expect(body.error.fbtrace_id).toEqual(expect.any(String));
    expect(graph().sent).toHaveLength(0);
  });

  it("enforces the 24 h window, HUMAN_AGENT's 7 days and tag validation", async () => {
    const outside = (await (await send(text(outsideWindow))).json()) as GraphError;
    expect(outside.error).toMatchObject({
      code: 10,
      error_subcode: 2018278,
      message: "(#10) This message is sent outside of allowed window.",
    });
    const human = await send(text(outsideWindow, { messaging_type: "MESSAGE_TAG", tag: "HUMAN_AGENT" }));
    expect(human.status).toBe(200);
    const tooOld = (await (
      await send(text(beyondHumanAgent, { messaging_type: "MESSAGE_TAG", tag: "HUMAN_AGENT" }))
    ).json()) as GraphError;
    expect(tooOld.error.error_subcode).toBe(2018278);
    const noTag = (await (
      await send(text(inWindow, { messaging_type: "MESSAGE_TAG" }))
    ).json()) as GraphError;
    expect(noTag.error.code).toBe(100);
    const badType = (await (await send(text(inWindow, { messaging_type: "SPAM" }))).json()) as GraphError;
    expect(badType.error.code).toBe(100);
    const noRecipient = await send({ message: { text: "x" }, messaging_type: "RESPONSE" });
    expect(noRecipient.status).toBe(400);
    graph().setLastInbound(beyondHumanAgent, new Date());
    expect((await send(text(beyondHumanAgent))).status).toBe(200);
    expect(graph().sent).toHaveLength(2);
  });

  it("rejects deprecated tags with (#100) unless beforeTagDeprecation", async () => {
    const tagged = text(beyondHumanAgent, { messaging_type: "MESSAGE_TAG", tag: "POST_PURCHASE_UPDATE" });
    const res = await send(tagged);
    expect(res.status).toBe(400);
    expect(((await res.json()) as GraphError).error).toMatchObject({
      code: 100,
      message: "(#100) Invalid parameter",
    });
    graph().setBeforeTagDeprecation(true);
    expect((await send(tagged)).status).toBe(200);
  });

  it("injects errors for the next sends only", async () => {
    graph().injectError(GRAPH_ERRORS.transient);
    graph().injectError(GRAPH_ERRORS.userUnavailable);
    const transient = await send(text(inWindow));
    expect(transient.status).toBe(500);
    expect(((await transient.json()) as GraphError).error.code).toBe(2);
    const unavailable = (await (await send(text(inWindow))).json()) as GraphError;
    expect(unavailable.error).toMatchObject({ code: 551, error_subcode: 1545041 });
    expect((await send(text(inWindow))).status).toBe(200);
    expect(graph().sent).toHaveLength(1);
  });

  it("records a send before a delayed answer", async () => {
    graph().setResponseDelay(800);
    const t0 = Date.now();
    const pending = send(text(inWindow), {}).catch(() => undefined);
    await expect.poll(() => graph().sent.length, { timeout: 2000 }).toBe(1);
    // The message exists already, but the client has not been answered yet.
    expect(
      await Promise.race([
        pending.then(() => "answered"),
        new Promise((r) => setTimeout(() => r("pending"), 50)),
      ]),
    ).toBe("pending");
    expect((await pending)?.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(790);
  });

  it("sends image attachments, and refuses a message with both or neither of text and attachment", async () => {
    const url = "https://content.pancake.vn/1/a.jpg";
    const image = { attachment: { type: "image", payload: { url, is_reusable: true } } };
    const res = await send(text(inWindow, { message: image }));
    expect(res.status).toBe(200);
    expect(graph().sent.at(-1)?.message).toEqual(image);
    for (const message of [
      { text: "x", ...image },
      {},
      { attachment: { type: "sticker", payload: { url } } },
      { attachment: { type: "image", payload: {} } },
      { attachment: { type: "image", payload: { url: "ftp://x/a.jpg" } } },
    ]) {
      const refused = await send(text(inWindow, { message }));
      expect(refused.status, JSON.stringify(message)).toBe(400);
      expect(((await refused.json()) as GraphError).error.code).toBe(100);
    }
    expect(graph().sent).toHaveLength(1);
  });

  it("refuses the n-th valid send armed with refuseSend, and only that one", async () => {
    graph().refuseSend(3, GRAPH_ERRORS.rateLimit);
    // An invalid send does not count.
    expect((await send(text(outsideWindow))).status).toBe(400);
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await send(text(inWindow))).status);
    }
    expect(statuses).toEqual([200, 200, 400, 200]);
    expect(graph().sent).toHaveLength(3);
    const disarm = graph().refuseSend(1, GRAPH_ERRORS.rateLimit);
    disarm();
    expect((await send(text(inWindow))).status).toBe(200);
    expect(() => graph().refuseSend(0, GRAPH_ERRORS.rateLimit)).toThrow(RangeError);
  });
});

describe("private replies", () => {
  const reply = (commentId: string, message: unknown = { text: "Shop đã inbox chị ạ" }) =>
    send({ recipient: { comment_id: commentId }, message });

  it("answers a comment once, without messaging_type; a second reply is refused with 10900", async () => {
    const post = graph().addPost(PAGE);
    const comment = graph().addComment(post, { id: beyondHumanAgent, name: "Nguyễn Thị Lan" });
    expect(comment).toMatch(/^\d+_\d+$/);
    const first = await reply(comment);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ message_id: expect.stringMatching(/^m_/) });
    expect(graph().sent.at(-1)).toMatchObject({ recipient: { comment_id: comment }, messagingType: null });
    expect(graph().comment(comment)?.privatelyReplied).toBe(true);
    const second = await reply(comment);
    expect(second.status).toBe(400);
    expect(((await second.json()) as GraphError).error).toMatchObject({
      code: 10900,
      message: "(#10900) Activity already replied to",
    });
    expect(graph().sent).toHaveLength(1);
  });

  it("refuses an unknown comment, another page's comment and an attachment", async () => {
    const unknown = (await (await reply("123_456")).json()) as GraphError;
    expect(unknown.error).toMatchObject({ code: 100, error_subcode: 2018292 });
    const otherPage = graph().addPost(FAKE_CREDENTIALS.pageIds[1]);
    const theirs = graph().addComment(otherPage, { id: inWindow, name: "A" });
    expect(((await (await reply(theirs)).json()) as GraphError).error.error_subcode).toBe(2018292);
    const mine = graph().addComment(graph().addPost(PAGE), { id: inWindow, name: "A" });
    const image = { attachment: { type: "image", payload: { url: "https://content.pancake.vn/a.jpg" } } };
    expect(((await (await reply(mine, image)).json()) as GraphError).error.code).toBe(100);
    expect(graph().comment(mine)?.privatelyReplied).toBe(false);
    expect(graph().sent).toHaveLength(0);
  });
});

describe("comments of a post", () => {
  interface Listing {
    data: { id: string; from?: { id?: string; name?: string }; message?: string; created_time?: string }[];
    paging?: { cursors: { before: string; after: string } };
  }

  const list = (objectId: string, query: Record<string, string> = {}, token = TOKEN) =>
    fetch(
      `${graph().url}/v26.0/${objectId}/comments?${new URLSearchParams({ access_token: token, ...query })}`,
    );

  it("lists a post's comments with the fields asked for, newest first on request", async () => {
    const post = graph().addPost(PAGE);
    const t = Date.UTC(2026, 10, 24, 8);
    const older = graph().addComment(post, { id: inWindow, name: "Lan" }, { at: t, message: "còn size M?" });
    const newer = graph().addComment(post, { id: outsideWindow, name: "Hoa" }, { at: t + 60_000 });
    const res = await list(post, {
      fields: "from{id,name},id,message,created_time",
      limit: "200",
      order: "reverse_chronological",
      filter: "stream",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Listing;
    expect(body.data).toEqual([
      {
        created_time: "2026-11-24T08:01:00+0000",
        from: { id: outsideWindow, name: "Hoa" },
        message: "Chốt đơn ạ",
        id: newer,
      },
      {
        created_time: "2026-11-24T08:00:00+0000",
        from: { id: inWindow, name: "Lan" },
        message: "còn size M?",
        id: older,
      },
    ]);
    expect(body.paging?.cursors).toEqual({ before: expect.any(String), after: expect.any(String) });
    const narrow = (await (await list(post, { fields: "from{name}", limit: "1" })).json()) as Listing;
    expect(narrow.data).toEqual([{ from: { name: "Lan" }, id: older }]);
  });

  it("lists a live video's comments by its bare id", async () => {
    const video = graph().addPost(PAGE, { video: true });
    expect(video).toMatch(/^\d+$/);
    graph().addComment(video, { id: inWindow, name: "Lan" });
    expect(((await (await list(video)).json()) as Listing).data).toHaveLength(1);
  });

  it("refuses an unknown object, another page's post, a bad token and bad fields", async () => {
    const unknown = await list(`${PAGE}_42`);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as GraphError).error).toMatchObject({ code: 100, error_subcode: 33 });
    const theirs = graph().addPost(FAKE_CREDENTIALS.pageIds[1]);
    expect(((await (await list(theirs)).json()) as GraphError).error.error_subcode).toBe(33);
    const post = graph().addPost(PAGE);
    expect(((await (await list(post, {}, "EAAGbad")).json()) as GraphError).error.code).toBe(190);
    expect(((await (await list(post, { fields: "from{id" })).json()) as GraphError).error.code).toBe(100);
    expect(((await (await list(post, { order: "random" })).json()) as GraphError).error.code).toBe(100);
  });

  it("forgets posts, comments and armed refusals on reset", async () => {
    const post = graph().addPost(PAGE);
    const comment = graph().addComment(post, { id: inWindow, name: "Lan" });
    graph().refuseSend(1, GRAPH_ERRORS.rateLimit);
    graph().reset();
    expect(graph().comment(comment)).toBeUndefined();
    expect((await list(post)).status).toBe(400);
    expect((await send(text(inWindow))).status).toBe(200);
  });
});

describe("picture", () => {
  it("redirects to a PNG, answers JSON with redirect=false and 404 for unknown ids", async () => {
    const res = await fetch(`${graph().url}/v21.0/${inWindow}/picture?type=normal`, { redirect: "manual" });
    expect(res.status).toBe(302);
    const location = res.headers.get("location") ?? "";
    const img = await fetch(location);
    expect(img.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await img.arrayBuffer()).equals(TINY_PNG)).toBe(true);
    const json = await (await fetch(`${graph().url}/${inWindow}/picture?redirect=0&type=normal`)).json();
    expect(json).toEqual({ data: { height: 100, width: 100, is_silhouette: false, url: location } });
    const unknown = await fetch(`${graph().url}/v21.0/42/picture`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as GraphError).error.code).toBe(100);
  });
});
