import type { Runtime } from "./options.js";
import type { components } from "./spec.js";
import { emitter, later } from "./util.js";

type ServerMessage = components["schemas"]["RealtimeServerMessage"];
/** The `type` of every message the server pushes on `/ws`. */
export type RealtimeMessageType = ServerMessage["type"];
/** The message of one `type`, as the spec's `RealtimeServerMessage` declares it. */
export type RealtimeMessage<T extends RealtimeMessageType = RealtimeMessageType> = Extract<
  ServerMessage,
  { type: T }
>;

/** What the client needs of a WebSocket: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `never` event types so that the DOM's and the `ws` package's handler types both fit.
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}
/** A WebSocket constructor (`globalThis.WebSocket`, or `WebSocket` from the `ws` package). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `connecting` (socket opening or authenticating), `open` (authenticated), `reconnecting` (waiting), `closed`. */
export type RealtimeState = "connecting" | "open" | "reconnecting" | "closed";

/** A change of {@link RealtimeState}, with what caused it. */
export interface RealtimeStateEvent {
  state: RealtimeState;
  /** The socket URL being opened, or that was just open. */
  url?: string | undefined;
  /** The close code that ended the last socket (4401: the API key was refused; the client then stops). */
  code?: number | undefined;
  /** Before `reconnecting`: how long the client waits, and the how-many-th try in a row this is. */
  delayMs?: number;
  attempt?: number;
}

/** Options of {@link createRealtime}. */
export interface RealtimeOptions {
  /** The API key sent in the `auth` message on every connection. */
  apiKey: string;
  /** WebSocket constructor; default `globalThis.WebSocket` (Node 20 has none: pass `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** First reconnect delay (default 500 ms); it doubles per failed try, with jitter. */
  minDelayMs?: number;
  /** Largest reconnect delay (default 30 000 ms). */
  maxDelayMs?: number;
  /** Ping period (default 25 000 ms). A socket that stayed silent for a whole period is dropped and reopened. */
  pingMs?: number;
}

/**
 * A live subscription to the server's realtime messages.
 *
 * @example
 * const off = live.on("sepay:transaction", (m) => notifyPayment(m));
 * live.onState(({ state, delayMs }) => setBadge(state === "reconnecting" ? `retry in ${delayMs} ms` : state));
 * // on teardown: off(); live.close();
 */
export interface RealtimeClient {
  /** Calls `fn` with every message of this type (typed by the spec). Returns a disposer. */
  on<T extends RealtimeMessageType>(type: T, fn: (message: RealtimeMessage<T>) => void): () => void;
  /** Calls `fn` on every state change. Returns a disposer. */
  onState(fn: (event: RealtimeStateEvent) => void): () => void;
  /** Closes the socket and stops reconnecting. */
  close(): void;
}

/**
 * Subscribes to a Node server's realtime socket (`/ws`). It connects to the client's Node servers in
 * order, authenticates with `{"type":"auth"}` on every connection, and reconnects with backoff and
 * jitter until `close()`. While reconnecting, a timer keeps a Node process alive, as an open socket would.
 *
 * @example
 * import { createClient, createRealtime } from "@n2store/sdk";
 *
 * const api = createClient({ servers: ["https://edge.example.com", "https://node.example.com"] });
 * const live = createRealtime(api, { apiKey: "k_live_..." });
 * const off = live.on("pages:update_conversation", (m) => render(m.payload.conversation));
 * live.onState((e) => setBadge(e.state));
 * // later: off(); live.close();
 */
export function createRealtime(
  client: { serversFor(runtime: Runtime): Promise<string[]> },
  options: RealtimeOptions,
): RealtimeClient {
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WS) {
    throw new TypeError("no WebSocket: pass options.WebSocket");
  }
  const { minDelayMs = 500, maxDelayMs = 30_000, pingMs = 25_000 } = options;
  const [on, emit] = emitter();
  let ws: WebSocketLike | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ping: ReturnType<typeof setInterval> | undefined;
  let tries = 0; // failed tries in a row: the backoff exponent
  let next = 0; // index of the Node server to try
  let closed = false;

  // State events share the hub with messages under a key no message type can have.
  const set = (e: RealtimeStateEvent) => emit(" ", e);

  /** Drops the current socket; unless closed, reconnects after a jittered, capped, doubling delay. */
  const drop = (code?: number, url?: string, ready?: boolean) => {
    clearInterval(ping);
    ws = undefined;
    if (closed) {
      return;
    }
    if (code === 4401) {
      // The key was refused: trying again cannot help.
      closed = true;
      return set({ state: "closed", code });
    }
    // A server going away (1001) or one that never got us to `ready` makes us try the next one;
    // after a working connection dropped, start again from the first (preferred) Node server.
    // `tries` restarts at 0 on `ready`, so a drop after a working connection ("too slow", 1013)
    // reconnects after the first, shortest delay.
    next = code === 1001 || !ready ? next + 1 : 0;
    const delayMs = Math.min(maxDelayMs, minDelayMs * 2 ** tries++) * (0.5 + Math.random() / 2);
    set({ state: "reconnecting", delayMs, attempt: tries, code, url });
    timer = setTimeout(connect, delayMs);
  };

  const connect = async () => {
    const bases = await client.serversFor("node").catch(() => []);
    const base = bases[next % (bases.length || 1)];
    if (closed) {
      return;
    }
    if (!base) {
      return drop();
    }
    const url = `${base.replace(/^http/, "ws")}/ws`;
    set({ state: "connecting", url });
    // An invalid URL or a blocked scheme throws here: a configuration error, left to surface.
    const s = new WS(url);
    ws = s;
    let ready = false;
    let heard = false;
    // One timer bounds the handshake, the auth and every later silence: a period with nothing heard
    // (no `ready`, no `pong`) means the socket is dead or stuck, so drop it and reconnect.
    ping = later(
      () => {
        if (!heard) {
          s.close(4000);
          return drop(undefined, url, ready);
        }
        heard = false;
        s.send('{"type":"ping"}');
      },
      pingMs,
      true,
    );
    s.onopen = () => s.send(JSON.stringify({ type: "auth", key: options.apiKey }));
    s.onerror = () => {}; // a close event follows; without a listener the ws package would throw
    s.onmessage = (e: { data: unknown }) => {
      heard = true;
      let m: { type?: unknown };
      try {
        m = JSON.parse(String(e.data));
      } catch {
        return;
      }
      if (m.type === "ready") {
        ready = true;
        tries = 0;
        set({ state: "open", url });
      }
      emit(m.type as string, m);
    };
    s.onclose = (e: { code?: number }) => {
      if (ws === s) {
        drop(e.code, url, ready);
      }
    };
  };

  void connect();
  return {
    on,
    onState: (fn) => on(" ", fn),
    close: () => {
      const s = ws;
      closed = true;
      clearTimeout(timer);
      drop();
      s?.close(1000);
      set({ state: "closed" });
    },
  };
}
