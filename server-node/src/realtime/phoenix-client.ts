import { randomBytes } from "node:crypto";
import { GATEWAY_USER_AGENT, type Logger } from "@n2store/core";
import WebSocket from "ws";

/** The upstream socket's state, as the status endpoint reports it. */
export type PhoenixState = "stopped" | "connecting" | "connected" | "reconnecting";

/** What the client needs to hold Pancake's realtime socket. */
export interface PhoenixOptions {
  readonly url: URL;
  readonly token: string;
  readonly userId: string;
  readonly pageIds: readonly string[];
  readonly cookie?: string | null;
  readonly log: Logger;
  /** Every push from a joined channel (not replies or channel control frames). */
  readonly onEvent: (event: string, payload: unknown, topic: string) => void;
  readonly onState: (state: PhoenixState, detail: { error: string | null; attempts: number }) => void;
  /** Phoenix's default and Pancake's web app use 30 s. */
  readonly heartbeatMs?: number;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
}

type Frame = [string | null, string | null, string, string, unknown];

const CONTROL_EVENTS = new Set(["phx_reply", "phx_close", "phx_error", "presence_state", "presence_diff"]);
const REJOIN_MS = [1000, 2000, 5000, 10_000];

function clientSession(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(64)].map((byte) => alphabet[byte % alphabet.length]).join("");
}

function reason(payload: unknown): string {
  const response = (payload as { response?: { message?: unknown; reason?: unknown } } | null)?.response;
  const text = response?.message ?? response?.reason;
  return typeof text === "string" ? text : "join refused";
}

/**
 * A Phoenix Channels v2 client for Pancake's realtime socket (notes/upstreams.md §3): joins
 * `users:{id}` and `multiple_pages:{id}` with the token in the join payload, heartbeats every 30 s
 * and treats a missing heartbeat reply as a dead socket, rejoins a channel that closes or errors,
 * and reconnects with exponential backoff and jitter (reset once a connection is joined).
 */
export class PhoenixClient {
  private socket: WebSocket | undefined;
  private ref = 0;
  private attempts = 0;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pendingHeartbeat: string | null = null;
  private readonly joins = new Map<
    string,
    { ref: string; payload: Record<string, unknown>; rejoins: number }
  >();
  private readonly session = clientSession();
  private lastError: string | null = null;

  constructor(private readonly options: PhoenixOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Leaves the channels, closes the socket and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined && socket.readyState === WebSocket.OPEN) {
      for (const [topic, join] of this.joins) {
        this.send(socket, [join.ref, this.nextRef(), topic, "phx_leave", {}]);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          socket.terminate();
          resolve();
        }, 1000);
        socket.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        socket.close(1000, "relay stopped");
      });
    } else {
      socket?.terminate();
    }
    this.options.onState("stopped", { error: null, attempts: this.attempts });
  }

  private nextRef(): string {
    this.ref += 1;
    return String(this.ref);
  }

  private send(socket: WebSocket, frame: Frame): void {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
    }
  }

  private connect(): void {
    const { url, cookie, log } = this.options;
    this.options.onState(this.attempts === 0 ? "connecting" : "reconnecting", {
      error: this.lastError,
      attempts: this.attempts,
    });
    const origin = `${url.protocol === "wss:" ? "https" : "http"}://${url.host}`;
    const headers: Record<string, string> = {
      Origin: origin,
      "User-Agent": GATEWAY_USER_AGENT,
      "Cache-Control": "no-cache",
    };
    if (cookie) {
      headers.Cookie = cookie;
    }
    const socket = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
    this.socket = socket;
    socket.on("open", () => {
      log.info({ url: `${url.origin}${url.pathname}` }, "Pancake socket open; joining channels");
      this.join(socket, `users:${this.options.userId}`, {
        accessToken: this.options.token,
        userId: this.options.userId,
        platform: "web",
      });
      this.join(socket, `multiple_pages:${this.options.userId}`, {
        accessToken: this.options.token,
        userId: this.options.userId,
        clientSession: this.session,
        pageIds: [...this.options.pageIds],
        platform: "web",
      });
      this.startHeartbeat(socket);
    });
    socket.on("message", (data) => this.receive(socket, data.toString()));
    socket.on("unexpected-response", (_request, response) => {
      this.lastError = `upgrade refused with HTTP ${response.statusCode}`;
    });
    socket.on("error", (error) => {
      this.lastError = error.message;
      log.warn({ err: error }, "Pancake socket error");
    });
    socket.on("close", (code) => {
      if (this.socket === socket) {
        this.socket = undefined;
      }
      clearInterval(this.heartbeatTimer);
      if (!this.stopped) {
        this.lastError ??= `socket closed with code ${code}`;
        this.scheduleReconnect();
      }
    });
  }

  private join(socket: WebSocket, topic: string, payload: Record<string, unknown>): void {
    const ref = this.nextRef();
    const previous = this.joins.get(topic);
    this.joins.set(topic, { ref, payload, rejoins: previous?.rejoins ?? 0 });
    this.send(socket, [ref, ref, topic, "phx_join", payload]);
  }

  private startHeartbeat(socket: WebSocket): void {
    clearInterval(this.heartbeatTimer);
    this.pendingHeartbeat = null;
    this.heartbeatTimer = setInterval(() => {
      if (this.pendingHeartbeat !== null) {
        // No reply to the last heartbeat: the connection is dead even if TCP has not noticed.
        this.lastError = "heartbeat timed out";
        socket.terminate();
        return;
      }
      this.pendingHeartbeat = this.nextRef();
      this.send(socket, [null, this.pendingHeartbeat, "phoenix", "heartbeat", {}]);
    }, this.options.heartbeatMs ?? 30_000);
    this.heartbeatTimer.unref();
  }

  private receive(socket: WebSocket, text: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      this.options.log.warn({}, "Pancake sent a frame that is not JSON");
      return;
    }
    if (!Array.isArray(frame) || frame.length !== 5) {
      return;
    }
    const [joinRef, ref, topic, event, payload] = frame;
    if (event === "phx_reply") {
      if (topic === "phoenix" && ref === this.pendingHeartbeat) {
        this.pendingHeartbeat = null;
        return;
      }
      this.joinReply(socket, topic, ref, payload);
      return;
    }
    if (event === "phx_close" || event === "phx_error") {
      const join = this.joins.get(topic);
      if (join !== undefined && join.ref === joinRef && !this.stopped) {
        const delay = REJOIN_MS[Math.min(join.rejoins, REJOIN_MS.length - 1)] ?? 10_000;
        join.rejoins += 1;
        setTimeout(() => {
          if (this.socket === socket) {
            this.join(socket, topic, join.payload);
          }
        }, delay).unref();
      }
      return;
    }
    if (!CONTROL_EVENTS.has(event)) {
      this.options.onEvent(event, payload, topic);
    }
  }

  private joinReply(socket: WebSocket, topic: string, ref: string | null, payload: unknown): void {
    const join = this.joins.get(topic);
    if (join === undefined || join.ref !== ref) {
      return;
    }
    const status = (payload as { status?: unknown } | null)?.status;
    if (status !== "ok") {
      this.lastError = `${topic}: ${reason(payload)}`;
      this.options.log.warn({ topic, reason: reason(payload) }, "Pancake refused a channel join");
      this.options.onState("connected", { error: this.lastError, attempts: this.attempts });
      return;
    }
    join.rejoins = 0;
    if (topic.startsWith("multiple_pages:")) {
      // The web app asks for the pages' online status once joined; Pancake pushes it back.
      this.send(socket, [join.ref, this.nextRef(), topic, "get_online_status", {}]);
    }
    const allJoined = [...this.joins.values()].every((entry) => entry.rejoins === 0);
    if (allJoined) {
      this.attempts = 0;
      this.lastError = null;
    }
    this.options.onState("connected", { error: this.lastError, attempts: this.attempts });
  }

  private scheduleReconnect(): void {
    const base = this.options.reconnectBaseMs ?? 1000;
    const max = this.options.reconnectMaxMs ?? 60_000;
    const ceiling = Math.min(max, base * 2 ** this.attempts);
    // Equal jitter: at least half the backoff, so a fleet does not reconnect in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempts += 1;
    this.options.onState("reconnecting", { error: this.lastError, attempts: this.attempts });
    this.options.log.info({ delayMs: Math.round(delay), attempts: this.attempts }, "reconnecting to Pancake");
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }
}
