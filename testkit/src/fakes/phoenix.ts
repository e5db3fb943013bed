/**
 * Fake Pancake realtime: a Phoenix Channels V2 JSON WebSocket server at
 * `/socket/websocket?vsn=2.0.0`. Frames are `[join_ref, ref, topic, event, payload]`.
 * Facts: upstreams.md §3 (control protocol from Phoenix's socket.ex, topics from Pancake traces).
 */
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { RawData, WebSocket } from "ws";
import { WebSocketServer } from "ws";
import type { ConversationInput, MessageInput, PancakeStore } from "./pancake-data.js";
import { buildConversation, buildMessage, createPancakeStore } from "./pancake-data.js";
import type { FakeHandle } from "./server.js";
import { baseHandle, isRecord, rejectUpgrade, startFakeServer, tryJson } from "./server.js";

/** A Phoenix V2 frame. */
export type PhoenixFrame = [string | null, string | null, string, string, unknown];

const OK = { status: "ok", response: {} };
const UNMATCHED = { status: "error", response: { reason: "unmatched topic" } };
const TOPIC = /^(users|multiple_pages|pages):(.+)$/;

/** Options of `createFakePhoenix`. */
export interface FakePhoenixOptions {
  /** Shared Pancake state: valid JWTs (`store.jwts`) and expired pages (`store.expiredPages`). */
  store?: PancakeStore;
  /** Close a socket that sent nothing for this long (default 60000, Phoenix's `timeout`). */
  idleTimeoutMs?: number;
  /** When set, upgrades whose Origin is not listed get 403 (Phoenix `check_origin`). */
  allowedOrigins?: string[];
  /** Join refusal `response` for a bad accessToken (UNCERTAIN; default `{reason:"unauthorized"}`). */
  badTokenResponse?: unknown;
  /** Join refusal `response` for an expired page (UNCERTAIN; default the 122 body below). */
  expiredResponse?: unknown;
}

/** One join attempt. */
interface PhoenixJoin {
  socketId: number;
  topic: string;
  payload: unknown;
  ok: boolean;
  at: number;
}

/** Handle of the Phoenix fake. */
export interface FakePhoenix extends FakeHandle {
  /** `ws://127.0.0.1:P/socket/websocket?vsn=2.0.0` */
  wsUrl: string;
  store: PancakeStore;
  /** Open WebSocket connections. */
  readonly clients: number;
  readonly joins: PhoenixJoin[];
  /** Frames received from clients. */
  readonly frames: { socketId: number; frame: PhoenixFrame; at: number }[];
  /** Frames the fake sent. */
  readonly outbound: { socketId: number; frame: PhoenixFrame; at: number }[];
  /** Sends `[join_ref, null, topic, event, payload]` to every socket joined on `topic`; returns how many. */
  push(topic: string, event: string, payload: unknown): number;
  /** Closes every socket: with a close frame when `code` is given (1000, 1001, 3000-4999), else abruptly. */
  dropAll(code?: number, reason?: string): void;
  /** While true, upgrades are answered with HTTP 403. */
  refuseUpgrades(refuse: boolean): void;
  /** Resolves with the first truthy result of `check`, re-evaluated on every socket event. */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
}

/** A `pages:update_conversation` payload: `{page_id, conversation:{…}}`. */
export function conversationUpdate(input: ConversationInput): {
  page_id: string;
  conversation: Record<string, unknown>;
} {
  return { page_id: input.pageId, conversation: buildConversation(input) };
}

/** A `pages:new_message` payload `{message:{…}}` (UNCERTAIN shape; `wrap:false` sends the bare message). */
export function newMessage(input: MessageInput & { wrap?: boolean }): Record<string, unknown> {
  const message = buildMessage(input);
  return input.wrap === false ? message : { message };
}

interface Conn {
  id: number;
  ws: WebSocket;
  topics: Map<string, string | null>;
  idle: NodeJS.Timeout | undefined;
}

/** Starts the Phoenix fake. */
export async function createFakePhoenix(options: FakePhoenixOptions = {}): Promise<FakePhoenix> {
  const store = options.store ?? createPancakeStore();
  const idleMs = options.idleTimeoutMs ?? 60_000;
  const conns = new Set<Conn>();
  const joins: PhoenixJoin[] = [];
  const frames: FakePhoenix["frames"] = [];
  const outbound: FakePhoenix["outbound"] = [];
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let refusing = false;
  let nextId = 1;
  const wss = new WebSocketServer({ noServer: true });

  const send = (c: Conn, frame: PhoenixFrame): void => {
    outbound.push({ socketId: c.id, frame, at: Date.now() });
    c.ws.send(JSON.stringify(frame));
  };
  const touch = (c: Conn): void => {
    clearTimeout(c.idle);
    c.idle = setTimeout(() => c.ws.close(1000, "idle timeout"), idleMs);
    c.idle.unref();
  };

  const join = (c: Conn, [jr, ref, topic, , payload]: PhoenixFrame): void => {
    const m = TOPIC.exec(topic);
    if (m === null) {
      send(c, [null, ref, topic, "phx_reply", UNMATCHED]);
      return;
    }
    const old = c.topics.get(topic);
    if (old !== undefined) {
      // Phoenix closes the previous channel for the topic before running the new join.
      send(c, [old, old, topic, "phx_close", {}]);
      c.topics.delete(topic);
    }
    const p = isRecord(payload) ? payload : {};
    const pageIds =
      m[1] === "pages"
        ? [m[2] ?? ""]
        : m[1] === "multiple_pages" && Array.isArray(p.pageIds)
          ? p.pageIds.map(String)
          : [];
    let response: unknown;
    if (typeof p.accessToken !== "string" || !store.jwts.has(p.accessToken)) {
      response = options.badTokenResponse ?? { reason: "unauthorized" };
    } else if (pageIds.some((id) => store.expiredPages.has(id))) {
      response = options.expiredResponse ?? { message: "Gói cước hết hạn", error_code: 122 };
    }
    joins.push({ socketId: c.id, topic, payload, ok: response === undefined, at: Date.now() });
    if (response !== undefined) {
      send(c, [jr, ref, topic, "phx_reply", { status: "error", response }]);
      return;
    }
    c.topics.set(topic, jr);
    send(c, [jr, ref, topic, "phx_reply", OK]);
  };

  const onFrame = (c: Conn, data: RawData, binary: boolean): void => {
    touch(c);
    const parsed = binary ? undefined : tryJson(data.toString());
    const v = parsed?.ok === true ? parsed.value : undefined;
    if (!Array.isArray(v) || v.length !== 5 || typeof v[2] !== "string" || typeof v[3] !== "string") {
      // The V2 serializer raises on anything else, which crashes the socket process.
      c.ws.close(1011, "invalid frame");
      return;
    }
    const frame = v as PhoenixFrame;
    frames.push({ socketId: c.id, frame, at: Date.now() });
    const [jr, ref, topic, event] = frame;
    if (topic === "phoenix" && event === "heartbeat") {
      send(c, [jr, ref, "phoenix", "phx_reply", OK]);
    } else if (event === "phx_join") {
      join(c, frame);
    } else if (!c.topics.has(topic)) {
      send(c, [null, ref, topic, "phx_reply", UNMATCHED]);
    } else if (event === "phx_leave") {
      const joinRef = c.topics.get(topic) ?? null;
      c.topics.delete(topic);
      send(c, [joinRef, ref, topic, "phx_reply", OK]);
      send(c, [joinRef, joinRef, topic, "phx_close", {}]);
    } else if (event === "get_online_status") {
      const payload = frame[4];
      const pageId = topic.startsWith("pages:")
        ? topic.slice(6)
        : isRecord(payload)
          ? (payload.page_id ?? null)
          : null;
      // Pancake answers with a push (ref null), not a phx_reply.
      send(c, [
        c.topics.get(topic) ?? null,
        null,
        topic,
        "online_status",
        { value: "available", success: true, page_id: pageId },
      ]);
    }
    // Other client events are recorded in `frames` but not answered: Pancake's replies are unknown.
    events.emit("change");
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/socket/websocket") {
      rejectUpgrade(socket, 404, "Not Found");
      return;
    }
    const origin = req.headers.origin;
    if (
      refusing ||
      (options.allowedOrigins !== undefined && !options.allowedOrigins.includes(origin ?? ""))
    ) {
      rejectUpgrade(socket, 403, "Forbidden");
      return;
    }
    if (url.searchParams.get("vsn") !== "2.0.0") {
      // Only the V2 JSON serializer is emulated (Pancake's clients all send vsn=2.0.0).
      rejectUpgrade(socket, 400, "Unsupported vsn");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Conn = { id: nextId++, ws, topics: new Map(), idle: undefined };
      conns.add(c);
      touch(c);
      ws.on("message", (data, binary) => onFrame(c, data, binary));
      ws.on("ping", () => touch(c));
      ws.on("error", () => ws.terminate());
      ws.on("close", () => {
        clearTimeout(c.idle);
        conns.delete(c);
        events.emit("change");
      });
      events.emit("change");
    });
  };

  const srv = await startFakeServer({
    onUpgrade,
    handler: (_req, res) => {
      res.writeHead(400, { "content-type": "text/plain" }).end("WebSocket upgrade expected");
    },
  });
  const waiters = new Set<(err: Error) => void>();

  const base = baseHandle(srv, () => {
    joins.length = 0;
    frames.length = 0;
    outbound.length = 0;
    refusing = false;
    if (options.store === undefined) {
      store.reset();
    }
  });
  return {
    ...base,
    wsUrl: `${srv.url.replace(/^http/, "ws")}/socket/websocket?vsn=2.0.0`,
    store,
    get clients() {
      return conns.size;
    },
    joins,
    frames,
    outbound,
    push(topic, event, payload) {
      let n = 0;
      for (const c of conns) {
        if (c.topics.has(topic)) {
          send(c, [c.topics.get(topic) ?? null, null, topic, event, payload]);
          n++;
        }
      }
      return n;
    },
    dropAll(code, reason) {
      for (const c of conns) {
        if (code === undefined) {
          c.ws.terminate();
        } else {
          c.ws.close(code, reason);
        }
      }
    },
    refuseUpgrades(refuse) {
      refusing = refuse;
    },
    waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 2000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          events.off("change", attempt);
          waiters.delete(fail);
        };
        const fail = (err: Error): void => {
          done();
          reject(err);
        };
        const attempt = (): void => {
          const v = check();
          if (v !== undefined && v !== null && v !== false) {
            done();
            resolve(v);
          }
        };
        const timer = setTimeout(() => fail(new Error(`waitFor timed out after ${timeoutMs} ms`)), timeoutMs);
        waiters.add(fail);
        events.on("change", attempt);
        attempt();
      });
    },
    async close() {
      for (const fail of [...waiters]) {
        fail(new Error("fake Phoenix closed"));
      }
      for (const c of conns) {
        clearTimeout(c.idle);
      }
      wss.close();
      await base.close();
    },
  };
}
