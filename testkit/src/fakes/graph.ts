/**
 * Fake Facebook Graph API: the Messenger Send API (`POST /{v}/{page|me}/messages`) with the 24 h
 * window, HUMAN_AGENT's 7 days and the 2026-04-27 tag deprecation, text and attachment messages,
 * private replies to comments (`recipient.comment_id`, one per comment), the comments of a post
 * (`GET /{v}/{object-id}/comments`), plus `/{id}/picture`. Facts: upstreams.md §5 (5.4b for
 * private replies). Messages are recorded in `sent` BEFORE an optional response delay, so a test
 * can model "the send happened but the answer was lost or late".
 */
import type { ServerResponse } from "node:http";
import { FAKE_CREDENTIALS } from "./credentials.js";
import { TINY_PNG } from "./images.js";
import type { FakeHandle, FakeRequest } from "./server.js";
import {
  baseHandle,
  intParam,
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
const ATTACHMENT_TYPES = new Set(["image", "audio", "video", "file", "template"]);
/** The fields Graph returns for a comment when `fields` is not given. */
const DEFAULT_COMMENT_FIELDS = ["created_time", "from", "message", "id"];

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
  /** A second private reply to one comment (original-contract.md §6: "all_already_replied"). */
  alreadyReplied: { status: 400, code: 10900, message: "(#10900) Activity already replied to" },
  /** A private reply to a comment Graph does not know (restfb/restfb#1165). */
  invalidCommentId: {
    status: 400,
    code: 100,
    subcode: 2018292,
    message: "(#100) Invalid comment_id parameter",
  },
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
interface GraphSent {
  pageId: string;
  version: string | null;
  recipient: Record<string, unknown>;
  /** null for a private reply, which goes without one. */
  messagingType: string | null;
  tag: string | null;
  message: unknown;
  messageId: string;
  at: number;
}

/** A comment on a post or live video, as the fake keeps it. */
interface GraphComment {
  id: string;
  /** The post (or live video) it is on. */
  objectId: string;
  from: { id: string; name: string };
  message: string;
  createdAt: number;
  /** Whether the page has answered it with its one private reply. */
  privatelyReplied: boolean;
}

/** Handle of the Graph fake. */
export interface FakeGraph extends FakeHandle {
  readonly sent: GraphSent[];
  /** Sets when the user last wrote to the page (opens the 24 h / 7 day windows). */
  setLastInbound(psid: string, at: number | Date): void;
  /** The next `times` otherwise-valid sends fail with `error` (default once). */
  injectError(error: GraphErrorSpec, times?: number): void;
  /**
   * The `n`-th otherwise-valid send from now (1 = the next) fails with `error`; those before it go
   * through. For a failure between the parts of a multi-part send. Returns a disposer that disarms
   * the refusal if it has not fired yet.
   */
  refuseSend(n: number, error: GraphErrorSpec): () => void;
  /**
   * Makes a post (or live video, `{ video: true }`: its id has no page prefix) of `pageId` exist;
   * returns its object id (`{pageId}_{postId}` for a post).
   */
  addPost(pageId: string, options?: { id?: string; video?: boolean }): string;
  /** Adds a comment by `from` on a post made with `addPost`; returns the comment id. */
  addComment(
    objectId: string,
    from: { id: string; name: string },
    options?: { message?: string; at?: number },
  ): string;
  /** A comment, by id. */
  comment(id: string): GraphComment | undefined;
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

/** Graph's answer for an object it does not know (or the token may not read). */
function unsupportedGet(id: string): GraphErrorSpec {
  return {
    status: 400,
    code: 100,
    subcode: 33,
    type: "GraphMethodException",
    message: `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
  };
}

/**
 * What Graph refuses in a message object: both or neither of text and attachment, text over 2000
 * characters, an attachment of an unknown type or a media attachment without `url` or
 * `attachment_id` (send-api reference). UNCERTAIN: the exact wording of these refusals.
 */
function messageProblem(message: Record<string, unknown>): GraphErrorSpec | undefined {
  const { text, attachment } = message;
  if ((text === undefined) === (attachment === undefined)) {
    return param("param message must have exactly one of text and attachment");
  }
  if (text !== undefined) {
    if (typeof text !== "string" || text === "") {
      return param("param message[text] must be a non-empty UTF-8 encoded string");
    }
    return [...text].length > 2000 ? param("param message[text] must be at most 2000 characters") : undefined;
  }
  if (
    !isRecord(attachment) ||
    typeof attachment.type !== "string" ||
    !ATTACHMENT_TYPES.has(attachment.type)
  ) {
    return param("param message[attachment][type] must be one of {image, audio, video, file, template}");
  }
  const payload = attachment.payload;
  if (!isRecord(payload)) {
    return param("param message[attachment][payload] must be non-empty.");
  }
  if (attachment.type !== "template") {
    const url = typeof payload.url === "string" ? payload.url : undefined;
    if (payload.attachment_id === undefined && (url === undefined || !/^https?:\/\/\S+$/.test(url))) {
      return param("param message[attachment][payload] must have a url or an attachment_id");
    }
  }
  return undefined;
}

/** `fields` as Graph reads it (`from{id,name},id,message`); null for a syntax error. */
function parseFields(raw: string | null): Map<string, string[] | null> | null {
  if (raw === null || raw === "") {
    return new Map(DEFAULT_COMMENT_FIELDS.map((name) => [name, null]));
  }
  const field = /([a-z_]+)(?:\{([a-z_]+(?:,[a-z_]+)*)\})?/;
  if (!new RegExp(`^${field.source}(?:,${field.source})*$`).test(raw)) {
    return null;
  }
  const fields = new Map<string, string[] | null>();
  for (const m of raw.matchAll(new RegExp(field.source, "g"))) {
    fields.set(m[1] as string, m[2] === undefined ? null : m[2].split(","));
  }
  return fields;
}

/** A comment with the fields asked for (`id` always, as Graph does). */
function commentJson(c: GraphComment, fields: Map<string, string[] | null>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (fields.has("created_time")) {
    out.created_time = new Date(c.createdAt).toISOString().replace(/\.\d{3}Z$/, "+0000");
  }
  if (fields.has("from")) {
    const sub = fields.get("from") ?? ["name", "id"];
    out.from = Object.fromEntries(sub.filter((f) => f === "id" || f === "name").map((f) => [f, c.from[f]]));
  }
  if (fields.has("message")) {
    out.message = c.message;
  }
  out.id = c.id;
  return out;
}

/** A string of `n` random digits (Graph ids are digit strings). */
function digits(n: number): string {
  let out = String(1 + Math.floor(Math.random() * 9));
  while (out.length < n) {
    out += String(Math.floor(Math.random() * 10));
  }
  return out;
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
  /** Refusals armed for the n-th otherwise-valid send, counted by `validSends`. */
  let armed = new Map<number, GraphErrorSpec>();
  let validSends = 0;
  /** Posts and live videos by object id, with the page they belong to. */
  const posts = new Map<string, string>();
  const comments = new Map<string, GraphComment>();

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
    // A private reply addresses a comment and goes without messaging_type (upstreams.md 5.4b).
    const type = params.messaging_type;
    if (
      (psid !== undefined || type !== undefined) &&
      (typeof type !== "string" || !MESSAGING_TYPES.has(type))
    ) {
      graphError(res, param("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"));
      return;
    }
    const message = params.message;
    if (!isRecord(message) && params.sender_action === undefined) {
      graphError(res, param("param message must be non-empty."));
      return;
    }
    const refusal = isRecord(message) ? messageProblem(message) : undefined;
    if (refusal !== undefined) {
      graphError(res, refusal);
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
    const comment = commentId === undefined ? undefined : comments.get(commentId);
    if (commentId !== undefined) {
      if (comment === undefined || posts.get(comment.objectId) !== tokenOwner) {
        graphError(res, GRAPH_ERRORS.invalidCommentId);
        return;
      }
      // Private replies are text only (upstreams.md 5.4b). UNCERTAIN: Graph's exact refusal.
      if (isRecord(message) && message.attachment !== undefined) {
        graphError(res, param("Private replies can only contain text"));
        return;
      }
      if (comment.privatelyReplied) {
        graphError(res, GRAPH_ERRORS.alreadyReplied);
        return;
      }
    }
    validSends += 1;
    const inj = armed.get(validSends) ?? injected.shift();
    if (inj !== undefined) {
      armed.delete(validSends);
      graphError(res, inj);
      return;
    }
    if (comment !== undefined) {
      comment.privatelyReplied = true;
    }
    const messageId = `m_${randomHex(20)}`;
    sent.push({
      pageId: tokenOwner,
      version,
      recipient,
      messagingType: typeof type === "string" ? type : null,
      tag,
      message,
      messageId,
      at: now(),
    });
    if (delayMs > 0) {
      await srv.delay(delayMs);
    }
    // UNCERTAIN whether Graph echoes the commenter's PSID for a private reply; the fake does not.
    sendJson(
      res,
      200,
      psid === undefined ? { message_id: messageId } : { recipient_id: psid, message_id: messageId },
    );
  };

  const listComments = (req: FakeRequest, res: ServerResponse, objectId: string): void => {
    const owner = tokenPage.get(req.query.get("access_token") ?? "");
    if (owner === undefined) {
      graphError(res, GRAPH_ERRORS.invalidToken);
      return;
    }
    if (posts.get(objectId) !== owner) {
      graphError(res, unsupportedGet(objectId));
      return;
    }
    const order = req.query.get("order") ?? "chronological";
    if (order !== "chronological" && order !== "reverse_chronological") {
      graphError(res, param("param order must be one of {chronological, reverse_chronological}"));
      return;
    }
    const fields = parseFields(req.query.get("fields"));
    if (fields === null) {
      graphError(res, param("Syntax error in the fields parameter"));
      return;
    }
    const limit = Math.max(1, intParam(req.query, "limit") ?? 25);
    const all = [...comments.values()]
      .filter((c) => c.objectId === objectId)
      .sort((a, b) => a.createdAt - b.createdAt);
    if (order === "reverse_chronological") {
      all.reverse();
    }
    const page = all.slice(0, limit);
    const body: Record<string, unknown> = { data: page.map((c) => commentJson(c, fields)) };
    if (page.length > 0) {
      const cursor = (c: GraphComment) => Buffer.from(c.id).toString("base64url");
      body.paging = {
        cursors: { before: cursor(page[0] as GraphComment), after: cursor(page.at(-1) as GraphComment) },
      };
    }
    sendJson(res, 200, body);
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
      const m = /^\/(?:(v\d+\.\d+)\/)?([^/]+)\/(messages|picture|comments)$/.exec(req.path);
      const id = m?.[2];
      if (m !== null && id !== undefined && m[3] === "messages" && req.method === "POST") {
        await send(req, res, m[1] ?? null, id);
      } else if (m !== null && id !== undefined && m[3] === "picture" && req.method === "GET") {
        picture(req, res, id);
      } else if (m !== null && id !== undefined && m[3] === "comments" && req.method === "GET") {
        listComments(req, res, id);
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
      armed = new Map();
      validSends = 0;
      posts.clear();
      comments.clear();
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
    refuseSend(n, error) {
      if (!Number.isInteger(n) || n < 1) {
        throw new RangeError("refuseSend counts sends from 1 (the next one)");
      }
      const at = validSends + n;
      armed.set(at, error);
      return () => {
        armed.delete(at);
      };
    },
    addPost(pageId, postOptions = {}) {
      const bare = postOptions.id ?? digits(16);
      const id = postOptions.video === true ? bare : `${pageId}_${bare}`;
      posts.set(id, pageId);
      return id;
    },
    addComment(objectId, from, commentOptions = {}) {
      if (!posts.has(objectId)) {
        throw new Error(`no post ${objectId}: add it with addPost first`);
      }
      const id = `${objectId.slice(objectId.indexOf("_") + 1)}_${digits(15)}`;
      comments.set(id, {
        id,
        objectId,
        from: { ...from },
        message: commentOptions.message ?? "Chốt đơn ạ",
        createdAt: commentOptions.at ?? now(),
        privatelyReplied: false,
      });
      return id;
    },
    comment(id) {
      return comments.get(id);
    },
    addPicture(id) {
      pictures.add(id);
    },
  };
}
