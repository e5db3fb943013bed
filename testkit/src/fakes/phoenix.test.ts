import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FAKE_CREDENTIALS } from "./credentials.js";
import type { FakePhoenix, FakePhoenixOptions, PhoenixFrame } from "./phoenix.js";
import { conversationUpdate, createFakePhoenix, newMessage } from "./phoenix.js";

const { jwt, userId } = FAKE_CREDENTIALS.pancake;
const PAGE = FAKE_CREDENTIALS.pageIds[0];
const open: { phx?: FakePhoenix | undefined; clients: WebSocket[] } = { clients: [] };

afterEach(async () => {
  for (const c of open.clients) {
    c.terminate();
  }
  open.clients = [];
  await open.phx?.close();
  open.phx = undefined;
});

async function start(options: FakePhoenixOptions = {}): Promise<FakePhoenix> {
  open.phx = await createFakePhoenix(options);
  return open.phx;
}

/** A minimal Phoenix V2 client: queues frames and hands out the first one matching a predicate. */
class Client {
  readonly inbox: PhoenixFrame[] = [];
  private wake: (() => void) | undefined;
  readonly closed: Promise<number>;
  constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      this.inbox.push(JSON.parse(d.toString()) as PhoenixFrame);
      this.wake?.();
    });
    this.closed = new Promise((resolve) => ws.on("close", (code) => resolve(code)));
  }
  static async connect(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    open.clients.push(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Client(ws);
  }
  send(frame: PhoenixFrame): void {
    this.ws.send(JSON.stringify(frame));
  }
  async next(pred: (f: PhoenixFrame) => boolean = () => true, timeoutMs = 2000): Promise<PhoenixFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) {
        return this.inbox.splice(i, 1)[0] as PhoenixFrame;
      }
      if (Date.now() > deadline) {
        throw new Error(`no matching frame; inbox: ${JSON.stringify(this.inbox)}`);
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }
}

const joinPayload = (extra: Record<string, unknown> = {}) => ({
  accessToken: jwt,
  userId,
  platform: "web",
  ...extra,
});

describe("Phoenix fake", () => {
  it("replies to heartbeats and joins users:, multiple_pages: and pages: topics", async () => {
    const phx = await start();
    const c = await Client.connect(phx.wsUrl);
    expect(phx.clients).toBe(1);
    c.send([null, "1", "phoenix", "heartbeat", {}]);
    expect(await c.next()).toEqual([null, "1", "phoenix", "phx_reply", { status: "ok", response: {} }]);
    c.send(["2", "2", `users:${userId}`, "phx_join", joinPayload()]);
    expect(await c.next()).toEqual([
      "2",
      "2",
      `users:${userId}`,
      "phx_reply",
      { status: "ok", response: {} },
    ]);
    c.send([
      "3",
      "3",
      `multiple_pages:${userId}`,
      "phx_join",
      joinPayload({ pageIds: [PAGE], clientSession: "x".repeat(64) }),
    ]);
    expect((await c.next())[4]).toEqual({ status: "ok", response: {} });
    c.send(["4", "4", `pages:${PAGE}`, "phx_join", joinPayload({ pageId: PAGE })]);
    expect((await c.next())[4]).toEqual({ status: "ok", response: {} });
    expect(phx.joins.map((j) => [j.topic, j.ok])).toEqual([
      [`users:${userId}`, true],
      [`multiple_pages:${userId}`, true],
      [`pages:${PAGE}`, true],
    ]);
  });

  it("refuses bad tokens, expired pages and unmatched topics", async () => {
    const phx = await start();
    phx.store.expirePage(PAGE);
    const c = await Client.connect(phx.wsUrl);
    c.send(["1", "1", `users:${userId}`, "phx_join", joinPayload({ accessToken: "eyJbad" })]);
    expect((await c.next())[4]).toEqual({ status: "error", response: { reason: "unauthorized" } });
    c.send(["2", "2", `multiple_pages:${userId}`, "phx_join", joinPayload({ pageIds: [PAGE, "1"] })]);
    expect(await c.next()).toEqual([
      "2",
      "2",
      `multiple_pages:${userId}`,
      "phx_reply",
      { status: "error", response: { message: "Gói cước hết hạn", error_code: 122 } },
    ]);
    c.send(["3", "3", "rooms:lobby", "phx_join", joinPayload()]);
    expect(await c.next()).toEqual([
      null,
      "3",
      "rooms:lobby",
      "phx_reply",
      { status: "error", response: { reason: "unmatched topic" } },
    ]);
    c.send([null, "4", `pages:${PAGE}`, "get_online_status", {}]);
    expect((await c.next())[4]).toEqual({ status: "error", response: { reason: "unmatched topic" } });
  });

  it("pushes to joined sockets, answers get_online_status with a ref-null push, and leaves", async () => {
    const phx = await start();
    const c = await Client.connect(phx.wsUrl);
    const topic = `pages:${PAGE}`;
    c.send(["7", "7", topic, "phx_join", joinPayload({ pageId: PAGE })]);
    await c.next();
    c.send(["7", "8", topic, "get_online_status", {}]);
    expect(await c.next()).toEqual([
      "7",
      null,
      topic,
      "online_status",
      { value: "available", success: true, page_id: PAGE },
    ]);
    const payload = conversationUpdate({
      pageId: PAGE,
      psid: "24000000000000009",
      snippet: "alo",
      unreadCount: 2,
    });
    expect(phx.push(topic, "pages:update_conversation", payload)).toBe(1);
    const pushed = await c.next();
    expect(pushed.slice(0, 4)).toEqual(["7", null, topic, "pages:update_conversation"]);
    expect(pushed[4]).toMatchObject({
      page_id: PAGE,
      conversation: {
        id: `${PAGE}_24000000000000009`,
        snippet: "alo",
        unread_count: 2,
        type: "INBOX",
        page_id: PAGE,
      },
    });
    expect(
      phx.push(topic, "pages:new_message", newMessage({ pageId: PAGE, conversationId: "c", fromId: "u" })),
    ).toBe(1);
    expect(((await c.next())[4] as { message: { conversation_id: string } }).message.conversation_id).toBe(
      "c",
    );
    expect(phx.push("pages:other", "x", {})).toBe(0);
    c.send(["7", "9", topic, "phx_leave", {}]);
    expect(await c.next()).toEqual(["7", "9", topic, "phx_reply", { status: "ok", response: {} }]);
    expect(await c.next()).toEqual(["7", "7", topic, "phx_close", {}]);
    expect(phx.push(topic, "x", {})).toBe(0);
  });

  it("closes the old channel on a duplicate join", async () => {
    const phx = await start();
    const c = await Client.connect(phx.wsUrl);
    const topic = `users:${userId}`;
    c.send(["1", "1", topic, "phx_join", joinPayload()]);
    await c.next();
    c.send(["5", "5", topic, "phx_join", joinPayload()]);
    expect(await c.next()).toEqual(["1", "1", topic, "phx_close", {}]);
    expect(await c.next()).toEqual(["5", "5", topic, "phx_reply", { status: "ok", response: {} }]);
  });

  it("closes idle sockets, refuses upgrades on demand and drops everyone", async () => {
    const phx = await start({ idleTimeoutMs: 150 });
    const idle = await Client.connect(phx.wsUrl);
    expect(await idle.closed).toBe(1000);
    await phx.waitFor(() => phx.clients === 0);
    phx.refuseUpgrades(true);
    await expect(Client.connect(phx.wsUrl)).rejects.toThrow(/403/);
    phx.refuseUpgrades(false);
    const a = await Client.connect(phx.wsUrl);
    const b = await Client.connect(phx.wsUrl);
    await phx.waitFor(() => phx.clients === 2);
    phx.dropAll(4001, "test");
    expect(await a.closed).toBe(4001);
    phx.dropAll();
    expect(await b.closed).toBeGreaterThanOrEqual(1000);
  });

  it("applies HTTP faults to the upgrade request", async () => {
    const phx = await start();
    phx.fault.set({ mode: "status", status: 503, body: "maintenance" }, { times: 1 });
    await expect(Client.connect(phx.wsUrl)).rejects.toThrow(/503/);
    phx.fault.set({ mode: "reset" }, { times: 1 });
    await expect(Client.connect(phx.wsUrl)).rejects.toThrow();
    const c = await Client.connect(phx.wsUrl);
    c.send([null, "1", "phoenix", "heartbeat", {}]);
    expect((await c.next())[3]).toBe("phx_reply");
    expect(phx.requests).toHaveLength(3);
  });

  it("rejects other vsn values and paths, and waitFor times out", async () => {
    const phx = await start();
    await expect(Client.connect(phx.wsUrl.replace("2.0.0", "1.0.0"))).rejects.toThrow(/400/);
    await expect(Client.connect(phx.wsUrl.replace("/socket/websocket", "/nope"))).rejects.toThrow(/404/);
    await expect(phx.waitFor(() => phx.joins.length > 0, 100)).rejects.toThrow(/timed out/);
    expect(phx.requests.filter((r) => r.path === "/socket/websocket")).toHaveLength(1);
  });

  it("waitFor resolves with the joined record", async () => {
    const phx = await start();
    const c = await Client.connect(phx.wsUrl);
    const waiting = phx.waitFor(() => phx.joins.find((j) => j.topic === `pages:${PAGE}`));
    c.send(["1", "1", `pages:${PAGE}`, "phx_join", joinPayload({ pageId: PAGE })]);
    expect((await waiting).payload).toMatchObject({ pageId: PAGE });
    expect(phx.frames.map((f) => f.frame[3])).toEqual(["phx_join"]);
  });
});
