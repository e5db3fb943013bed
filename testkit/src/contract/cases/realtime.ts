/** Contract cases of the `realtime` tag (Node server): the relay control and the browser socket. */
import { API_VERSION } from "@n2store/generated";
import { expect } from "vitest";
import type WebSocket from "ws";
import { conversationUpdate, FAKE_CREDENTIALS } from "../../fakes/index.js";
import { API_KEY } from "../../servers/index.js";
import type { CaseContext, ContractCase, Loose } from "../context.js";
import { withKey } from "../context.js";
import {
  apiKeyCases,
  apiKeyNegatives,
  contractCase,
  expectRefused,
  jsonBodyNegatives,
  notServedOnEdge,
} from "./shared.js";

const { userId, jwt } = FAKE_CREDENTIALS.pancake;
const PAGES = [...FAKE_CREDENTIALS.pageIds];
const start = { token: jwt, userId, pageIds: PAGES };

/** The stored relay state, read through the target. */
async function status(ctx: CaseContext): Promise<Loose> {
  const response = await ctx.call("GET", "/api/realtime/status", { headers: withKey() });
  expect(response.status).toBe(200);
  return ctx.json(response);
}

/** Starts the relay and waits until it holds the upstream socket. */
async function startAndConnect(ctx: CaseContext): Promise<Loose> {
  const response = await ctx.call("POST", "/api/realtime/start", { headers: withKey(), json: start });
  expect(response.status).toBe(200);
  const body = await ctx.json(response);
  await ctx.waitFor(async () => (await status(ctx)).state === "connected", "the relay to connect to Pancake");
  return body;
}

/** Stops the relay (cases leave it stopped). */
async function stop(ctx: CaseContext): Promise<void> {
  const response = await ctx.call("POST", "/api/realtime/stop", { headers: withKey() });
  expect(response.status).toBe(200);
}

/** Collects the JSON messages a socket receives. */
function inbox(socket: WebSocket): Loose[] {
  const messages: Loose[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data))));
  return messages;
}

async function opened(socket: WebSocket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
}

async function closed(socket: WebSocket): Promise<number> {
  return new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
}

export const realtimeCases: ContractCase[] = [
  contractCase(
    "startRealtime",
    "happy",
    "stores the credentials, joins Pancake's channels and never returns the token",
    async (ctx) => {
      const joinsBefore = ctx.fakes.phoenix.joins.length;
      try {
        const body = await startAndConnect(ctx);
        expect(body).toMatchObject({ desired: "running", userId, pageIds: PAGES });
        expect(JSON.stringify(body)).not.toContain(jwt);
        await ctx.waitFor(
          () =>
            ctx.fakes.phoenix.joins
              .slice(joinsBefore)
              .some((join) => join.ok && join.topic === `multiple_pages:${userId}`),
          "the join of multiple_pages on Pancake",
        );
        expect(
          ctx.fakes.phoenix.joins.slice(joinsBefore).some((join) => join.topic === `users:${userId}`),
        ).toBe(true);
      } finally {
        await stop(ctx);
      }
    },
  ),
  contractCase(
    "startRealtime",
    "negative",
    "refuses page ids that are missing, empty, repeated or not ids with 400",
    async (ctx) => {
      for (const [change, field] of [
        [{ pageIds: [] }, "pageIds"],
        [{ pageIds: [PAGES[0], PAGES[0]] }, "pageIds"],
        [{ pageIds: ["page-one"] }, "pageIds"],
        [{ userId: "has spaces" }, "userId"],
        [{ token: "" }, "token"],
      ] as const) {
        const error = await expectRefused(
          ctx,
          "POST",
          { path: "/api/realtime/start", init: { headers: withKey(), json: { ...start, ...change } } },
          400,
          "VALIDATION_FAILED",
        );
        expect(
          error.details?.map((d) => d.path?.slice(0, 2)),
          field,
        ).toContainEqual(["body", field]);
      }
      expect((await status(ctx)).desired).not.toBe("running");
    },
  ),
  contractCase(
    "startRealtime",
    "negative",
    "refuses a token with a NUL character with 400, not a database failure",
    async (ctx) => {
      await ctx.expectError(
        await ctx.call("POST", "/api/realtime/start", {
          headers: withKey(),
          json: { ...start, token: "a\u0000b" },
        }),
        400,
        "VALIDATION_FAILED",
      );
    },
  ),
  ...jsonBodyNegatives({
    operationId: "startRealtime",
    method: "POST",
    request: async () => ({ path: "/api/realtime/start", headers: withKey() }),
    valid: () => ({ ...start }),
    required: "pageIds",
    wrongType: ["userId", 42],
    closed: true,
    untouched: async (ctx) => ((await status(ctx)).desired === "running" ? 1 : 0),
  }),
  ...apiKeyNegatives("startRealtime", "POST", () => ({
    path: "/api/realtime/start",
    init: { headers: withKey(), json: start },
  })),
  notServedOnEdge("startRealtime", "POST", () => ({
    path: "/api/realtime/start",
    init: { headers: withKey(), json: start },
  })),

  contractCase(
    "getRealtimeStatus",
    "happy",
    "reports the relay connected while it holds Pancake's socket",
    async (ctx) => {
      try {
        await startAndConnect(ctx);
        const body = await status(ctx);
        // The fields the shop's inbox-debug page reads: success, connected, userId.
        expect(body).toMatchObject({
          success: true,
          connected: true,
          desired: "running",
          state: "connected",
          userId,
          isLeader: true,
        });
        expect(body.leaderInstanceId).toBe("contract-node");
        expect(Date.parse(body.connectedAt)).not.toBeNaN();
      } finally {
        await stop(ctx);
      }
    },
  ),
  ...apiKeyCases("getRealtimeStatus", "GET", () => ({
    path: "/api/realtime/status",
    init: { headers: withKey() },
  })),
  notServedOnEdge("getRealtimeStatus", "GET", () => ({
    path: "/api/realtime/status",
    init: { headers: withKey() },
  })),

  contractCase("stopRealtime", "happy", "stops the relay and closes Pancake's socket", async (ctx) => {
    await startAndConnect(ctx);
    const response = await ctx.call("POST", "/api/realtime/stop", { headers: withKey() });
    expect(response.status).toBe(200);
    expect((await ctx.json(response)).desired).toBe("stopped");
    await ctx.waitFor(() => ctx.fakes.phoenix.clients === 0, "Pancake's socket to close");
    await ctx.waitFor(async () => (await status(ctx)).state === "stopped", "the relay to report stopped");
  }),
  contractCase("stopRealtime", "happy", "stopping a stopped relay changes nothing", async (ctx) => {
    await stop(ctx);
    const body = await ctx.json(await ctx.call("POST", "/api/realtime/stop", { headers: withKey() }));
    expect(body.desired).toBe("stopped");
  }),
  ...apiKeyNegatives("stopRealtime", "POST", () => ({
    path: "/api/realtime/stop",
    init: { headers: withKey() },
  })),
  notServedOnEdge("stopRealtime", "POST", () => ({
    path: "/api/realtime/stop",
    init: { headers: withKey() },
  })),

  contractCase(
    "openRealtimeSocket",
    "negative",
    "answers a plain GET with 426 UPGRADE_REQUIRED",
    async (ctx) => {
      await ctx.expectError(await ctx.call("GET", "/ws"), 426, "UPGRADE_REQUIRED");
    },
  ),
  contractCase(
    "openRealtimeSocket",
    "happy",
    "authenticates in-band, answers ping, and relays Pancake's events",
    async (ctx) => {
      const socket = ctx.websocket("/ws");
      const messages = inbox(socket);
      try {
        await opened(socket);
        socket.send(JSON.stringify({ type: "auth", key: API_KEY }));
        await ctx.waitFor(() => messages.some((m) => m.type === "ready"), "ready");
        expect(messages[0]).toEqual({ type: "ready", instanceId: "contract-node" });
        socket.send(JSON.stringify({ type: "ping" }));
        await ctx.waitFor(() => messages.some((m) => m.type === "pong"), "pong");
        await startAndConnect(ctx);
        const update = conversationUpdate({
          pageId: PAGES[0] ?? "",
          psid: "24000000000000009",
          snippet: "Chị ơi còn hàng không",
        });
        await ctx.waitFor(
          () => ctx.fakes.phoenix.push(`multiple_pages:${userId}`, "pages:update_conversation", update) > 0,
          "the channel join, to push on",
        );
        const relayed = await ctx.waitFor(
          () => messages.find((m) => m.type === "pages:update_conversation"),
          "the relayed update",
        );
        expect(relayed.payload.conversation.snippet).toBe("Chị ơi còn hàng không");
      } finally {
        socket.close();
        await stop(ctx);
      }
    },
  ),
  contractCase(
    "openRealtimeSocket",
    "happy",
    "answers auth then an immediate ping in order, ready then pong, on 20 sockets; a key with spaces is trimmed",
    async (ctx) => {
      const sockets = Array.from({ length: 20 }, () => ctx.websocket("/ws"));
      const received = sockets.map((socket) => inbox(socket));
      try {
        await Promise.all(sockets.map((socket) => opened(socket)));
        sockets.forEach((socket, index) => {
          // Both frames leave together: the ping reaches the server while the key is being checked.
          const key = index % 2 === 0 ? API_KEY : `  ${API_KEY} `;
          socket.send(JSON.stringify({ type: "auth", key }));
          socket.send(JSON.stringify({ type: "ping" }));
        });
        await ctx.waitFor(
          () => received.every((messages) => messages.some((m) => m.type === "pong")),
          "a pong on every socket",
        );
        for (const messages of received) {
          // The relay may push a `realtime:status` at any time (an earlier case's stop lands late);
          // the order under test is the answers to this socket's own frames.
          const answers = messages.filter((m) => m.type !== "realtime:status");
          expect(answers.map((m) => m.type)).toEqual(["ready", "pong"]);
        }
        expect(sockets.every((socket) => socket.readyState === socket.OPEN)).toBe(true);
        // The server counts them all as subscribed browsers.
        expect((await status(ctx)).browserClients).toBeGreaterThanOrEqual(sockets.length);
      } finally {
        for (const socket of sockets) {
          socket.close();
        }
      }
    },
  ),
  contractCase(
    "openRealtimeSocket",
    "negative",
    "closes a client's socket with 4429 TOO_MANY_FAILURES after 20 wrong keys in a minute, even with the right key",
    async (ctx) => {
      const address = `198.19.200.${Math.floor(Math.random() * 250) + 1}`;
      const attempt = async (key: string): Promise<{ code: number; messages: Loose[] }> => {
        const socket = ctx.websocket("/ws", address);
        const messages = inbox(socket);
        await opened(socket);
        const code = closed(socket);
        socket.send(JSON.stringify({ type: "auth", key }));
        return { code: await code, messages };
      };
      for (let i = 0; i < 20; i++) {
        expect((await attempt(`${API_KEY}-guess-${i}`)).code).toBe(4401);
      }
      const blocked = await attempt(API_KEY);
      expect(blocked.code).toBe(4429);
      expect(blocked.messages[0]).toMatchObject({ type: "error", code: "TOO_MANY_FAILURES" });
      // The same address over HTTP is refused too: one count per client.
      await ctx.expectError(
        await ctx.call("GET", "/api/realtime/status", {
          headers: { ...withKey(), "x-forwarded-for": address },
        }),
        429,
        "TOO_MANY_FAILURES",
      );
    },
  ),
  contractCase(
    "openRealtimeSocket",
    "negative",
    "closes a socket that sends a wrong key with 4401 after an error message",
    async (ctx) => {
      const socket = ctx.websocket("/ws");
      const messages = inbox(socket);
      await opened(socket);
      const code = closed(socket);
      socket.send(JSON.stringify({ type: "auth", key: `${API_KEY}-wrong` }));
      expect(await code).toBe(4401);
      expect(messages).toEqual([{ type: "error", code: "UNAUTHORIZED", message: "the key is not valid" }]);
      // The socket upgrade itself is outside fetch; a plain request still shows the server is fine.
      expect((await ctx.json(await ctx.call("GET", "/health"))).version).toBe(API_VERSION);
    },
  ),
  contractCase(
    "openRealtimeSocket",
    "negative",
    "closes a socket whose first message is not auth with 4401",
    async (ctx) => {
      const socket = ctx.websocket("/ws");
      const messages = inbox(socket);
      await opened(socket);
      const code = closed(socket);
      socket.send("not json");
      expect(await code).toBe(4401);
      expect(messages[0]).toMatchObject({ type: "error", code: "UNAUTHORIZED" });
      expect((await ctx.call("GET", "/health")).status).toBe(200);
    },
  ),
  notServedOnEdge("openRealtimeSocket", "GET", () => ({ path: "/ws" })),
];
