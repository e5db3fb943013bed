/**
 * Test-only: an in-memory `Upstream` that answers from scripts per URL and records every request.
 * No sockets: bodies are `Uint8Array`s standing in for the opaque `RawBody`. Not exported from
 * the package index.
 */
import type { RawBody } from "@n2store/generated";
import {
  isUpstreamFailure,
  type Upstream,
  UpstreamFailure,
  type UpstreamRequest,
  type UpstreamResponse,
} from "../ports/upstream.js";

/** One scripted answer: a response (status 200 unless given), or an UpstreamFailure to throw. */
export interface FakeReply {
  readonly status?: number;
  /** Response headers; names are lower-cased. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array | null;
  /** A JSON body; sets `content-type: application/json` unless the headers name one. */
  readonly json?: unknown;
}

/** A request as the fake saw it (headers copied, so later changes by the caller do not show). */
export interface RecordedUpstreamRequest {
  /** `url.href` */
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body as text (string and byte bodies), or null when there was none. */
  readonly body: string | null;
  readonly guarded: boolean;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
}

/** What a URL answers: a reply, a failure, or a function of the request giving either. */
export type FakeScript =
  | FakeReply
  | UpstreamFailure
  | ((
      request: RecordedUpstreamRequest,
    ) => FakeReply | UpstreamFailure | Promise<FakeReply | UpstreamFailure>);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A request or response body for the fake: bytes standing in for a stream. */
export function rawBody(content: string | Uint8Array): RawBody {
  return (typeof content === "string" ? encoder.encode(content) : content) as unknown as RawBody;
}

/** The bytes of a body the fake (or a handler) produced: a string, bytes or a fake `RawBody`. */
function bodyBytes(body: RawBody | Uint8Array | string | null | undefined): Uint8Array {
  if (body === null || body === undefined) {
    return new Uint8Array();
  }
  if (typeof body === "string") {
    return encoder.encode(body);
  }
  if (body instanceof Uint8Array) {
    return body;
  }
  throw new TypeError("FakeUpstream only understands string and Uint8Array bodies");
}

/** The text of a body (see `bodyBytes`). */
export function bodyText(body: RawBody | Uint8Array | string | null | undefined): string {
  return decoder.decode(bodyBytes(body));
}

function tooLarge(size: number, limit: number): UpstreamFailure {
  return new UpstreamFailure("too-large", `body of ${size} bytes is over the limit of ${limit}`);
}

/** Like the runtimes' adapters: an aborted request fails as `reset` (it may have been sent). */
function abortable<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) {
    return pending;
  }
  const aborted = () => new UpstreamFailure("reset", "the request was aborted");
  if (signal.aborted) {
    return Promise.reject(aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function withoutQuery(href: string): string {
  const url = new URL(href);
  url.search = "";
  return url.href;
}

/**
 * An Upstream that answers each URL from its script: `on(url, a, b)` answers `a` to the first
 * request and `b` to every later one. A script registered without a query also answers that URL
 * with any query. A URL without a script fails as `unreachable`, like a refused connection; a
 * request whose `signal` aborts before its answer fails as `reset`.
 */
export class FakeUpstream implements Upstream {
  /** Every request, in order. */
  readonly requests: RecordedUpstreamRequest[] = [];
  /** How many response bodies were discarded through `dump()`. */
  dumped = 0;
  private readonly scripts = new Map<string, FakeScript[]>();

  /** Scripts the answers to `url`; the last one repeats. */
  on(url: string, ...replies: FakeScript[]): this {
    if (replies.length === 0) {
      throw new Error("on() needs at least one reply");
    }
    this.scripts.set(new URL(url).href, [...replies]);
    return this;
  }

  /** The recorded requests to one URL (exact `href`). */
  requestsTo(url: string): RecordedUpstreamRequest[] {
    const href = new URL(url).href;
    return this.requests.filter((request) => request.url === href);
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const recorded: RecordedUpstreamRequest = {
      url: request.url.href,
      method: request.method,
      headers: { ...request.headers },
      body: request.body === undefined || request.body === null ? null : bodyText(request.body),
      guarded: request.guarded,
      timeoutMs: request.timeoutMs,
      maxBodyBytes: request.maxBodyBytes,
    };
    this.requests.push(recorded);
    const queue = this.scripts.get(recorded.url) ?? this.scripts.get(withoutQuery(recorded.url));
    if (queue === undefined) {
      throw new UpstreamFailure("unreachable", `FakeUpstream has no script for ${recorded.url}`);
    }
    const next = (queue.length > 1 ? queue.shift() : queue[0]) as FakeScript;
    const reply = await abortable(
      Promise.resolve(typeof next === "function" ? next(recorded) : next),
      request.signal,
    );
    if (isUpstreamFailure(reply)) {
      throw reply;
    }
    return this.respond(reply, request.maxBodyBytes);
  }

  async readRaw(body: RawBody, maxBytes: number): Promise<Uint8Array> {
    const bytes = bodyBytes(body);
    if (bytes.length > maxBytes) {
      throw tooLarge(bytes.length, maxBytes);
    }
    return bytes;
  }

  /** The stand-in stream is already bytes: pass it on, captured unless over `maxBytes`. */
  tee(body: RawBody, maxBytes: number): { body: RawBody; captured: Promise<Uint8Array | null> } {
    const bytes = bodyBytes(body);
    return { body, captured: Promise.resolve(bytes.length > maxBytes ? null : bytes) };
  }

  private respond(reply: FakeReply, maxBodyBytes: number): UpstreamResponse {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(reply.headers ?? {})) {
      headers[name.toLowerCase()] = value;
    }
    let bytes: Uint8Array | null =
      reply.body === undefined || reply.body === null ? null : bodyBytes(reply.body);
    if (reply.json !== undefined) {
      bytes = encoder.encode(JSON.stringify(reply.json));
      headers["content-type"] ??= "application/json";
    }
    // Like the real adapters: a body over the request's limit fails at once.
    if (bytes !== null && bytes.length > maxBodyBytes) {
      throw tooLarge(bytes.length, maxBodyBytes);
    }
    const content = bytes ?? new Uint8Array();
    const read = async (maxBytes = Number.POSITIVE_INFINITY): Promise<Uint8Array> => {
      if (content.length > maxBytes) {
        throw tooLarge(content.length, maxBytes);
      }
      return content;
    };
    return {
      status: reply.status ?? 200,
      headers,
      body: bytes === null ? null : rawBody(bytes),
      bytes: read,
      text: async (maxBytes) => decoder.decode(await read(maxBytes)),
      dump: async () => {
        this.dumped++;
      },
    };
  }
}
