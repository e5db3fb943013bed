import {
  type Config,
  type FailureLimiter,
  isApiError,
  jsonTooDeep,
  type Logger,
  requireApiKey,
} from "@n2store/core";
import type { Schema } from "@n2store/generated";
import { validateRealtimeClientMessage } from "@n2store/generated/validators";
import type WebSocket from "ws";
import type { BrowserHub } from "../realtime/hub.js";

type ServerMessage = Schema<"RealtimeServerMessage">;

/** Close codes of the browser socket (documented on GET /ws). */
export const CLOSE = {
  unauthorized: 4401,
  badMessage: 4400,
  tooManyFailures: 4429,
  goingAway: 1001,
  tooSlow: 1013,
} as const;
/** A browser must authenticate this fast after connecting. */
const AUTH_TIMEOUT_MS = 5000;

function send(socket: WebSocket, message: ServerMessage): void {
  socket.send(JSON.stringify(message));
}

/** The error code a close code stands for in the message sent before closing. */
const CODES: Readonly<Record<number, Schema<"ErrorCode">>> = {
  [CLOSE.unauthorized]: "UNAUTHORIZED",
  [CLOSE.tooManyFailures]: "TOO_MANY_FAILURES",
};

function refuse(socket: WebSocket, code: number, message: string): void {
  send(socket, { type: "error", code: CODES[code] ?? "VALIDATION_FAILED", message });
  socket.close(code, message.slice(0, 120));
}

/**
 * One browser socket: it must authenticate in-band first (`{"type":"auth","key":...}`, a key of
 * N2STORE_API_KEYS, within 5 s; browsers cannot set headers on a WebSocket), then it receives every
 * relayed event; `{"type":"ping"}` is answered with a pong.
 */
export function acceptBrowserSocket(
  socket: WebSocket,
  context: {
    hub: BrowserHub;
    config: Config;
    instanceId: string;
    log: Logger;
    failures: FailureLimiter;
    clientAddress: string;
  },
): void {
  let authenticated = false;
  const timer = setTimeout(() => {
    if (!authenticated) {
      refuse(socket, CLOSE.unauthorized, "authenticate within 5 seconds");
    }
  }, AUTH_TIMEOUT_MS);
  timer.unref();
  socket.on("close", () => clearTimeout(timer));
  // Messages are handled one at a time, in the order they came: checking the key awaits, and a
  // message sent right after `auth` must wait for that verdict (it was refused with 4401 when it
  // overtook the check).
  let queue: Promise<void> = Promise.resolve();
  socket.on("message", (data, isBinary) => {
    queue = queue
      .then(() => handle(data, isBinary))
      .catch((error: unknown) => context.log.warn({ err: error }, "could not handle a browser message"));
  });
  const handle = async (data: WebSocket.RawData, isBinary: boolean): Promise<void> => {
    if (socket.readyState !== socket.OPEN) {
      return;
    }
    let message: unknown;
    const text = isBinary ? undefined : data.toString();
    try {
      message = text === undefined || jsonTooDeep(text) ? undefined : JSON.parse(text);
    } catch {
      message = undefined;
    }
    if (message === undefined || !validateRealtimeClientMessage(message)) {
      refuse(
        socket,
        authenticated ? CLOSE.badMessage : CLOSE.unauthorized,
        "send a JSON message of the RealtimeClientMessage schema",
      );
      return;
    }
    const typed = message as Schema<"RealtimeClientMessage">;
    if (typed.type === "ping") {
      if (authenticated) {
        send(socket, { type: "pong" });
      } else {
        refuse(socket, CLOSE.unauthorized, "authenticate first");
      }
      return;
    }
    if (authenticated) {
      return;
    }
    try {
      // The same check as the HTTP routes' x-api-key (trimmed), under the same failure limiter.
      await requireApiKey({ "x-api-key": typed.key }, context);
    } catch (error) {
      const limited = isApiError(error) && error.code === "TOO_MANY_FAILURES";
      context.log.info(
        {},
        limited ? "browser socket refused: too many failures" : "browser socket refused: bad key",
      );
      refuse(
        socket,
        limited ? CLOSE.tooManyFailures : CLOSE.unauthorized,
        limited && isApiError(error) ? error.message : "the key is not valid",
      );
      return;
    }
    authenticated = true;
    clearTimeout(timer);
    context.hub.add(socket);
    send(socket, { type: "ready", instanceId: context.instanceId });
  };
}
