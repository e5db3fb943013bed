/**
 * Fake Facebook Graph API: the Messenger Send API (`POST /{v}/{page|me}/messages`) with the 24 h
 * window, HUMAN_AGENT's 7 days and the 2026-04-27 tag deprecation, plus `/{id}/picture`.
 * Facts: upstreams.md §5. Messages are recorded in `sent` BEFORE an optional response delay, so a
 * test can model "the send happened but the answer was lost or late".
 */
import type { ServerResponse } from "node:http";
import { FAKE_CREDENTIALS } from "./credentials.js";
import { TINY_PNG } from "./images.js";
import type { FakeHandle, FakeRequest } from "./server.js";
import {
  baseHandle,
  isRecord,
  randomHex,
  redirect,
  sendBody,
  sendJson,
  startFakeServer,
  tryJson,
} from "./server.js";

const DAY = 86_400_000;
const DEPRECATED_TAGS = new Set(["POST_PURCHASE_UPDATE", "CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE"]);
const MESSAGING_TYPES = new Set(["RESPONSE", "UPDATE", "MESSAGE_TAG"]);

/** A Graph error before it is wrapped in `{"error":{…}}`. */
export interface GraphErrorSpec {
  status: number;
  code: number;
  subcode?: number;
  message: string;
  type?: string;
}

/** Named errors tests can inject into the next sends. */
export const GRAPH_ERRORS = {
  userUnavailable: {
    status: 400,
    code: 551,
    subcode: 1545041,
    message: "This person isn't available right now.",
  },
  rateLimit: { status: 400, code: 613, message: "(#613) Calls to this api have exceeded the rate limit." },
  transient: {
    status: 500,
    code: 2,
    subcode: 1,
    message: "An unexpected error has occurred. Please retry your request later.",
  },
  permission: {
    status: 403,
    code: 200,
    subcode: 10,
    message: "(#200) Requires pages_messaging permission to manage the object",
  },
  invalidToken: { status: 400, code: 190, message: "Invalid OAuth access token.", type: "OAuthException" },
  outsideWindow: {
    status: 400,
    code: 10,
    subcode: 2018278,
    message: "(#10) This message is sent outside of allowed window.",
  },
  invalidParameter: { status: 400, code: 100, message: "(#100) Invalid parameter" },
  noMatchingUser: { status: 400, code: 100, subcode: 2018001, message: "(#100) No matching user found" },
} satisfies Record<string, GraphErrorSpec>;

/** Options of `createFakeGraph`. */
export interface FakeGraphOptions {
  /** Valid page access tokens per page id (default `FAKE_CREDENTIALS.graphPageTokens`). */
  pageTokens?: Record<string, string | string[]>;
  /** Per-PSID time (ms) of the user's last inbound message; default seeds the FAKE_CREDENTIALS PSIDs. */
  lastInbound?: Record<string, number>;
  /** Accept POST_PURCHASE_UPDATE / CONFIRMED_EVENT_UPDATE / ACCOUNT_UPDATE (before 2026-04-27). */
  beforeTagDeprecation?: boolean;
  /** Where `/picture` redirects (default: this fake's own `/cdn/{id}.png`). */
  pictureUrl?: (id: string) => string;
  /** Ids with a profile picture besides every PSID with a `lastInbound` and every page. */
  pictureIds?: string[];
  /** UNCERTAIN (the seed called it tokenless): require `access_token` on `/picture`; default false. */
  pictureRequiresToken?: boolean;
  /** Delay each successful send's answer by this many ms, after recording it. */
  responseDelayMs?: number;
  /** Clock for the messaging windows (default `Date.now`). */
  now?: () => number;
}

/** A message the fake accepted. */
export interface GraphSent {
  pageId: string;
  version: string | null;
  recipient: Record<string, unknown>;
  messagingType: string;
  tag: string | null;
  message: unknown;
  messageId: string;
  at: number;
}

/** Handle of the Graph fake. */
export interface FakeGraph extends FakeHandle {
  readonly sent: GraphSent[];
  /** Sets when the user last wrote to the page (opens the 24 h / 7 day windows). */
  setLastInbound(psid: string, at: number | Date): void;
  /** The next `times` otherwise-valid sends fail with `error` (default once). */
  injectError(error: GraphErrorSpec, times?: number): void;
  setResponseDelay(ms: number): void;
  setBeforeTagDeprecation(accept: boolean): void;
  /** Makes a profile picture exist for `id`. */
  addPicture(id: string): void;
}

function graphError(res: ServerResponse, e: GraphErrorSpec): void {
  const error: Record<string, unknown> = {
    message: e.message,
    type: e.type ?? "OAuthException",
    code: e.code,
  };
  if (e.subcode !== undefined) {
    error.error_subcode = e.subcode;
  }
  error.fbtrace_id = `A${randomHex(10)}`;
  // Graph adds WWW-Authenticate only to token errors.
  const headers: Record<string, string> =
    e.code === 190 ? { "www-authenticate": 'OAuth "Facebook Platform" "invalid_token"' } : {};
  sendJson(res, e.status, { error }, headers);
}

function param(e: string, status = 400): GraphErrorSpec {
  return { status, code: 100, message: `(#100) ${e}` };
}

/** Starts the Graph fake. */
export async function createFakeGraph(options: FakeGraphOptions = {}): Promise<FakeGraph> {
  const now = options.now ?? Date.now;
  const tokenPage = new Map<string, string>();
  for (const [page, tokens] of Object.entries(options.pageTokens ?? FAKE_CREDENTIALS.graphPageTokens)) {
    for (const t of Array.isArray(tokens) ? tokens : [tokens]) {
      tokenPage.set(t, page);
    }
  }
  const seedInbound = (): Map<string, number> => {
    const t = now();
    const ps = FAKE_CREDENTIALS.psids;
    const seed = options.lastInbound ?? {
      [ps.inWindow]: t - 3_600_000,
      [ps.outsideWindow]: t - 3 * DAY,
      [ps.beyondHumanAgent]: t - 10 * DAY,
    };
    return new Map(Object.entries(seed));
  };
  let lastInbound = seedInbound();
  let pictures = new Set(options.pictureIds ?? []);
  const sent: GraphSent[] = [];
  let injected: GraphErrorSpec[] = [];
  let delayMs = options.responseDelayMs ?? 0;
  let beforeDeprecation = options.beforeTagDeprecation ?? false;

  const send = async (
    req: FakeRequest,
    res: ServerResponse,
    version: string | null,
    target: string,
  ): Promise<void> => {
    // Graph merges query and body parameters; in form bodies, objects arrive as JSON strings.
    const params: Record<string, unknown> = Object.fromEntries(req.query);
    const ctype = req.headers["content-type"] ?? "";
    if (ctype.includes("json")) {
      const parsed = tryJson(req.body);
      if (!parsed.ok || !isRecord(parsed.value)) {
        graphError(res, param("Invalid JSON body"));
        return;
      }
      Object.assign(params, parsed.value);
    } else {
      for (const [k, v] of new URLSearchParams(req.body)) {
        const j = tryJson(v);
        params[k] = (k === "recipient" || k === "message") && j.ok ? j.value : v;
      }
    }
    const bearer = /^(?:Bearer|OAuth)\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const token = typeof params.access_token === "string" ? params.access_token : bearer;
    const tokenOwner = token === undefined ? undefined : tokenPage.get(token);
    if (tokenOwner === undefined || (target !== "me" && target !== tokenOwner)) {
      graphError(res, GRAPH_ERRORS.invalidToken);
      return;
    }
    const recipient = params.recipient;
    const psid = isRecord(recipient) && typeof recipient.id === "string" ? recipient.id : undefined;
    const commentId =
      isRecord(recipient) && typeof recipient.comment_id === "string" ? recipient.comment_id : undefined;
    if (!isRecord(recipient) || (psid === undefined && commentId === undefined)) {
      graphError(res, param("param recipient must be non-empty."));
      return;
    }
    const type = params.messaging_type;
    if (typeof type !== "string" || !MESSAGING_TYPES.has(type)) {
      graphError(res, param("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"));
      return;
    }
    const message = params.message;
    const text = isRecord(message) ? message.text : undefined;
    if (!isRecord(message) && params.sender_action === undefined) {
      graphError(res, param("param message must be non-empty."));
      return;
    }
    if (typeof text === "string" && [...text].length > 2000) {
      graphError(res, param("param message[text] must be at most 2000 characters"));
      return;
    }
    const tag = typeof params.tag === "string" ? params.tag : null;
    if (type === "MESSAGE_TAG") {
      const known = tag === "HUMAN_AGENT" || (tag !== null && DEPRECATED_TAGS.has(tag));
      if (tag === null || !known || (DEPRECATED_TAGS.has(tag) && !beforeDeprecation)) {
        graphError(res, GRAPH_ERRORS.invalidParameter);
        return;
      }
    }
    if (psid !== undefined) {
      const last = lastInbound.get(psid);
      if (last === undefined) {
        graphError(res, GRAPH_ERRORS.noMatchingUser);
        return;
      }
      const age = now() - last;
      // Deprecated tags (when still accepted) were never window-bound; HUMAN_AGENT gets 7 days.
      const allowed =
        tag !== null && DEPRECATED_TAGS.has(tag)
          ? Number.POSITIVE_INFINITY
          : tag === "HUMAN_AGENT"
            ? 7 * DAY
            : DAY;
      if (age > allowed) {
        graphError(res, GRAPH_ERRORS.outsideWindow);
        return;
      }
    }
    const inj = injected.shift();
    if (inj !== undefined) {
      graphError(res, inj);
      return;
    }
    const messageId = `m_${randomHex(20)}`;
    sent.push({
      pageId: tokenOwner,
      version,
      recipient,
      messagingType: type,
      tag,
      message,
      messageId,
      at: now(),
    });
    if (delayMs > 0) {
      await srv.delay(delayMs);
    }
    // Private replies address a comment, so Graph has no PSID to echo back.
    sendJson(
      res,
      200,
      psid === undefined ? { message_id: messageId } : { recipient_id: psid, message_id: messageId },
    );
  };

  const picture = (req: FakeRequest, res: ServerResponse, id: string): void => {
    const known = pictures.has(id) || lastInbound.has(id) || [...tokenPage.values()].includes(id);
    if (
      !known ||
      (options.pictureRequiresToken === true && !tokenPage.has(req.query.get("access_token") ?? ""))
    ) {
      graphError(res, {
        status: 404,
        code: 100,
        subcode: 33,
        type: "GraphMethodException",
        message: `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      });
      return;
    }
    const sizes: Record<string, number> = { small: 50, square: 50, normal: 100, album: 50, large: 200 };
    const size = Number(req.query.get("width") ?? sizes[req.query.get("type") ?? "square"] ?? 50);
    const url = options.pictureUrl?.(id) ?? `${srv.url}/cdn/${id}.png`;
    const r = req.query.get("redirect");
    if (r === "false" || r === "0") {
      sendJson(res, 200, {
        data: { height: Number(req.query.get("height") ?? size), width: size, is_silhouette: false, url },
      });
    } else {
      redirect(res, url);
    }
  };

  const srv = await startFakeServer({
    echo: true,
    handler: async (req, res) => {
      const cdn = /^\/cdn\/[^/]+\.png$/.exec(req.path);
      if (cdn !== null) {
        sendBody(res, 200, TINY_PNG, "image/png");
        return;
      }
      const m = /^\/(?:(v\d+\.\d+)\/)?([^/]+)\/(messages|picture)$/.exec(req.path);
      const id = m?.[2];
      if (m !== null && id !== undefined && m[3] === "messages" && req.method === "POST") {
        await send(req, res, m[1] ?? null, id);
      } else if (m !== null && id !== undefined && m[3] === "picture" && req.method === "GET") {
        picture(req, res, id);
      } else {
        graphError(res, {
          status: 400,
          code: 100,
          type: "GraphMethodException",
          message: "Unsupported request.",
        });
      }
    },
  });

  return {
    ...baseHandle(srv, () => {
      sent.length = 0;
      injected = [];
      lastInbound = seedInbound();
      pictures = new Set(options.pictureIds ?? []);
      delayMs = options.responseDelayMs ?? 0;
      beforeDeprecation = options.beforeTagDeprecation ?? false;
    }),
    sent,
    setLastInbound(psid, at) {
      lastInbound.set(psid, at instanceof Date ? at.getTime() : at);
    },
    injectError(error, times = 1) {
      for (let i = 0; i < times; i++) {
        injected.push(error);
      }
    },
    setResponseDelay(ms) {
      delayMs = ms;
    },
    setBeforeTagDeprecation(accept) {
      beforeDeprecation = accept;
    },
    addPicture(id) {
      pictures.add(id);
    },
  };
}
