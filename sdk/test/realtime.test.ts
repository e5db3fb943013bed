// The realtime client against a real `ws` server on 127.0.0.1 (ephemeral port, loopback only).
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { createClient, createRealtime, type RealtimeClient, type RealtimeStateEvent } from "../src/index.js";

type Socket = InstanceType<typeof WebSocket>;
const cleanup: (() => unknown)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) {
    await fn();
  }
});

/** A `/ws` server; `onAuthed` runs after a correct auth message has been answered with `ready`. */
async function server(
  options: { onConnect?: (ws: Socket, n: number) => void; onAuthed?: (ws: Socket, n: number) => void } = {},
) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/ws" });
  await once(wss, "listening");
  const auths: unknown[] = [];
  let connections = 0;
  wss.on("connection", (ws) => {
    const n = ++connections;
    options.onConnect?.(ws, n);
    ws.once("message", (raw) => {
      const m = JSON.parse(String(raw)) as { type?: string; key?: string };
      auths.push(m);
      if (m.type !== "auth" || m.key !== "k-1") {
        ws.close(4401, "unauthorized");
        return;
      }
      ws.send(JSON.stringify({ type: "ready", instanceId: `node-${n}` }));
      options.onAuthed?.(ws, n);
    });
  });
  cleanup.push(() => {
    for (const c of wss.clients) {
      c.terminate();
    }
    return new Promise((r) => wss.close(r));
  });
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  return { wss, url, auths, connections: () => connections };
}

/** A realtime client over the given Node servers, with short delays; its state events are recorded. */
function connect(urls: string[], options: { apiKey?: string; pingMs?: number } = {}) {
  const client = createClient({ servers: urls.map((url) => ({ url, runtime: "node" as const })) });
  const states: RealtimeStateEvent[] = [];
  const live: RealtimeClient = createRealtime(client, {
    apiKey: options.apiKey ?? "k-1",
    WebSocket,
    minDelayMs: 10,
    maxDelayMs: 80,
    pingMs: options.pingMs ?? 5_000,
  });
  live.onState((e) => states.push(e));
  cleanup.push(() => {
    live.close();
    client.close();
  });
  return { live, states };
}

/** Resolves when `check` holds; fails the test after `ms`. */
async function until(check: () => boolean, ms = 5_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error("condition not met in time");
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("createRealtime", () => {
  it("authenticates first, then delivers typed messages by type", async () => {
    const conversation = { id: "111_222", page_id: "111", snippet: "Còn hàng không?" };
    const srv = await server({
      onAuthed: (ws) => {
        ws.send(JSON.stringify({ type: "pages:update_conversation", payload: { conversation } }));
        ws.send(JSON.stringify({ type: "order:tags_updated", payload: { orderId: "o1", tags: [] } }));
      },
    });
    const { live, states } = connect([srv.url]);
    const updates: unknown[] = [];
    const ready: string[] = [];
    live.on("ready", (m) => ready.push(m.instanceId));
    live.on("pages:update_conversation", (m) => updates.push(m.payload.conversation));
    await until(() => updates.length === 1);
    expect(srv.auths).toEqual([{ type: "auth", key: "k-1" }]);
    expect(ready).toEqual(["node-1"]);
    expect(updates).toEqual([conversation]);
    expect(states.map((s) => s.state)).toEqual(["connecting", "open"]);
    expect(states[1]?.url).toBe(`${srv.url.replace("http", "ws")}/ws`);
  });

  it("stops delivering to a handler once its disposer ran", async () => {
    let push: (() => void) | undefined;
    const srv = await server({
      onAuthed: (ws) => {
        push = () => ws.send(JSON.stringify({ type: "pong" }));
      },
    });
    const { live } = connect([srv.url]);
    const seen: string[] = [];
    const off = live.on("pong", (m) => seen.push(m.type));
    const other: string[] = [];
    live.on("pong", (m) => other.push(m.type));
    await until(() => push !== undefined);
    push?.();
    await until(() => other.length === 1);
    off();
    push?.();
    await until(() => other.length === 2);
    expect(seen).toEqual(["pong"]);
  });

  it("reconnects after the server closes the socket, and authenticates again", async () => {
    const srv = await server({
      onAuthed: (ws, n) => {
        if (n === 1) {
          ws.close(1013, "too slow");
        }
      },
    });
    const { states } = connect([srv.url]);
    await until(() => srv.auths.length === 2 && states.at(-1)?.state === "open");
    expect(srv.auths).toEqual([
      { type: "auth", key: "k-1" },
      { type: "auth", key: "k-1" },
    ]);
    const reconnect = states.find((s) => s.state === "reconnecting");
    expect(reconnect).toMatchObject({ code: 1013, attempt: 1 });
    // After a working connection the first, shortest delay applies: between half of and minDelayMs.
    expect(reconnect?.delayMs).toBeGreaterThanOrEqual(5);
    expect(reconnect?.delayMs).toBeLessThanOrEqual(10);
  });

  it("backs off with jitter, doubling up to maxDelayMs, while the server keeps failing", async () => {
    const srv = await server({ onConnect: (ws) => ws.close(1011, "boom") });
    const { live, states } = connect([srv.url]);
    await until(() => states.filter((s) => s.state === "reconnecting").length >= 7);
    live.close();
    const delays = states.filter((s) => s.state === "reconnecting").map((s) => s.delayMs ?? -1);
    const attempts = states.filter((s) => s.state === "reconnecting").map((s) => s.attempt);
    expect(attempts.slice(0, 7)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    delays.forEach((d, i) => {
      const full = Math.min(80, 10 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    });
  });

  it("gives up when the key is refused (4401)", async () => {
    const srv = await server();
    const { states } = connect([srv.url], { apiKey: "wrong" });
    await until(() => states.at(-1)?.state === "closed");
    expect(states.at(-1)).toEqual({ state: "closed", code: 4401 });
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.connections()).toBe(1);
  });

  it("moves to the next Node server when the first cannot be reached", async () => {
    const dead = await server();
    const deadUrl = dead.url;
    await new Promise((r) => dead.wss.close(r));
    const srv = await server();
    const { states } = connect([deadUrl, srv.url]);
    await until(() => states.at(-1)?.state === "open");
    expect(states.at(-1)?.url).toBe(`${srv.url.replace("http", "ws")}/ws`);
    expect(srv.auths).toHaveLength(1);
  });

  it("drops a socket that stays silent for a ping period and connects again", async () => {
    // This server accepts the socket but never answers: no `ready`, no `pong`.
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/ws" });
    await once(wss, "listening");
    let connections = 0;
    wss.on("connection", () => {
      connections++;
    });
    cleanup.push(() => {
      for (const c of wss.clients) {
        c.terminate();
      }
      return new Promise((r) => wss.close(r));
    });
    const { states } = connect([`http://127.0.0.1:${(wss.address() as AddressInfo).port}`], { pingMs: 50 });
    await until(() => connections >= 2);
    expect(states.some((s) => s.state === "reconnecting")).toBe(true);
    expect(states.some((s) => s.state === "open")).toBe(false);
  });

  it("pings an open socket and stays open while the server answers", async () => {
    const pings: string[] = [];
    const srv = await server({
      onAuthed: (ws) =>
        ws.on("message", (raw) => {
          pings.push(String(raw));
          ws.send(JSON.stringify({ type: "pong" }));
        }),
    });
    const { states } = connect([srv.url], { pingMs: 30 });
    await until(() => pings.length >= 3);
    expect(pings[0]).toBe('{"type":"ping"}');
    expect(states.map((s) => s.state)).toEqual(["connecting", "open"]);
  });

  it("close() closes the socket and stops reconnecting", async () => {
    const srv = await server();
    const { live, states } = connect([srv.url]);
    await until(() => states.at(-1)?.state === "open");
    const [socket] = srv.wss.clients;
    const closed = socket ? once(socket, "close") : Promise.reject(new Error("no socket"));
    live.close();
    const [code] = (await closed) as [number];
    expect(code).toBe(1000);
    expect(states.at(-1)).toEqual({ state: "closed" });
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.connections()).toBe(1);
  });

  it("needs a WebSocket constructor where the runtime has none", () => {
    const client = createClient({ servers: [] });
    const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
    Reflect.deleteProperty(globalThis, "WebSocket");
    try {
      expect(() => createRealtime(client, { apiKey: "k" })).toThrow(TypeError);
    } finally {
      if (saved) {
        (globalThis as { WebSocket?: unknown }).WebSocket = saved;
      }
      client.close();
    }
  });
});
