import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from "node:dns";
import { isIP } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import {
  type AddressRule,
  checkAddress,
  classifyAddress,
  isApiError,
  type Upstream,
  UpstreamFailure,
  type UpstreamRequest,
  type UpstreamResponse,
} from "@n2store/core";
import type { RawBody } from "@n2store/generated";
import { Agent, buildConnector, type Dispatcher, util } from "undici";
import { UpstreamBody } from "./upstream-body.js";

/** `dns.lookup` with `all: true`, injectable so tests can make a name resolve to loopback. */
export type LookupAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const SSRF_BLOCKED = "ERR_N2STORE_SSRF_BLOCKED";

function blocked(reason: string): Error {
  return Object.assign(new Error(`connection refused by the SSRF guard: ${reason}`), { code: SSRF_BLOCKED });
}

/**
 * An undici connector that enforces the SSRF policy on the connection itself (notes/ssrf.md §3):
 * every address DNS returns must be public unicast (the whole answer is refused if one is not, and
 * the connection uses exactly the addresses that were checked, so DNS rebinding cannot slip a
 * private address in); IP literals, which skip DNS, are checked before connecting; and the socket's
 * remote address is checked once more after connecting.
 */
function guardedConnector(
  rules: readonly AddressRule[],
  options: { timeoutMs: number; lookup?: LookupAll },
): buildConnector.connector {
  const resolve: LookupAll = options.lookup ?? ((host, opts, cb) => dnsLookup(host, opts, cb));
  const guardedLookup = (
    hostname: string,
    lookupOptions: { all?: boolean; family?: number },
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    resolve(hostname, { ...lookupOptions, all: true } as LookupAllOptions, (error, addresses) => {
      if (error !== null) {
        callback(error, []);
        return;
      }
      const refused = addresses.find((entry) => !classifyAddress(entry.address).ok);
      if (refused !== undefined || addresses.length === 0) {
        callback(blocked(`${hostname} resolves to ${refused?.address ?? "nothing"}`), []);
        return;
      }
      if (lookupOptions.all === true) {
        callback(null, addresses);
      } else {
        const first = addresses[0] as LookupAddress;
        callback(null, first.address, first.family);
      }
    });
  };
  const base = buildConnector({ timeout: options.timeoutMs, lookup: guardedLookup as never });
  return (connectOptions, callback) => {
    const host = connectOptions.hostname.replace(/^\[|\]$/g, "");
    const port = Number(connectOptions.port) || (connectOptions.protocol === "https:" ? 443 : 80);
    if (isIP(host) !== 0 && !checkAddress(host, port, rules).ok) {
      callback(blocked(`${host} is not a public address`), null);
      return;
    }
    base(connectOptions, (error, socket) => {
      if (error !== null) {
        callback(error, null);
        return;
      }
      const remote = socket.remoteAddress;
      if (remote === undefined || !checkAddress(remote, socket.remotePort ?? port, rules).ok) {
        socket.destroy();
        callback(blocked(`connected to ${remote ?? "an unknown address"}`), null);
        return;
      }
      callback(null, socket);
    });
  };
}

const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

function errorCode(error: unknown): string {
  const direct = (error as { code?: unknown })?.code;
  if (typeof direct === "string") {
    return direct;
  }
  // Happy-eyeballs failures are AggregateErrors whose parts carry the codes.
  const inner = (error as { errors?: unknown[] })?.errors?.[0];
  return typeof (inner as { code?: unknown })?.code === "string" ? (inner as { code: string }).code : "";
}

/** Classifies an undici failure: was the request possibly sent, and what kind of failure it is. */
export function toUpstreamFailure(error: unknown): UpstreamFailure {
  if (error instanceof UpstreamFailure) {
    return error;
  }
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === SSRF_BLOCKED) {
    return new UpstreamFailure("blocked", message, { cause: error });
  }
  if (NOT_SENT.has(code)) {
    return new UpstreamFailure("unreachable", message, { cause: error });
  }
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new UpstreamFailure("timeout", message, { cause: error });
  }
  if (code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") {
    return new UpstreamFailure("too-large", message, { cause: error });
  }
  return new UpstreamFailure("reset", message, { cause: error });
}

async function readAll(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes) {
      stream.destroy();
      throw new UpstreamFailure("too-large", `body larger than ${maxBytes} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The response headers as one string each, without Set-Cookie (an upstream's cookies are never the
 * caller's). undici already gives the names in lower case.
 */
function normaliseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === "set-cookie") {
      continue;
    }
    out[name] = typeof value === "string" ? value : value.join(", ");
  }
  return out;
}

/** What a ResponseHandler tells its caller: the response (at its headers), or why none came. */
interface ResponseOutcome {
  answered(response: UpstreamResponse): void;
  failed(error: unknown): void;
}

/**
 * undici's dispatch handler for one upstream call: it settles the call when the response headers
 * arrive (or it fails), then feeds the body to an UpstreamBody, pausing the connection while the
 * body's reader is full.
 */
class ResponseHandler implements Dispatcher.DispatchHandler {
  #abort: ((reason: Error) => void) | null = null;
  #body: UpstreamBody | null = null;
  #settled = false;
  #aborted: Error | null = null;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: (() => void) | undefined;

  constructor(
    private readonly request: UpstreamRequest,
    private readonly outcome: ResponseOutcome,
  ) {
    const body = request.body as Readable | null | undefined;
    if (body !== null && body !== undefined && typeof (body as Readable).on === "function") {
      // As undici's request() does: a request body that fails fails the call with its own error.
      (body as Readable).on("error", (error: Error) => this.onError(error));
    }
    this.#signal = request.signal;
    if (this.#signal !== undefined) {
      const signal = this.#signal;
      this.#onAbort = () =>
        this.#cancel(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      if (signal.aborted) {
        this.#aborted = signal.reason instanceof Error ? signal.reason : new Error("aborted");
      } else {
        signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
  }

  #cancel(reason: Error): void {
    if (this.#abort !== null) {
      this.#abort(reason);
    } else {
      this.#aborted = reason;
    }
  }

  #done(): void {
    if (this.#signal !== undefined && this.#onAbort !== undefined) {
      this.#signal.removeEventListener("abort", this.#onAbort);
    }
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.#aborted !== null) {
      abort(this.#aborted);
      return;
    }
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, _statusText: string): boolean {
    if (statusCode < 200) {
      return true;
    }
    const abort = this.#abort ?? (() => {});
    const body = new UpstreamBody({ resume, abort }, this.request.maxBodyBytes);
    this.#body = body;
    const headers = normaliseHeaders(util.parseHeaders(rawHeaders));
    const max = this.request.maxBodyBytes;
    const declared = headers["content-length"] === undefined ? null : Number(headers["content-length"]);
    this.#settled = true;
    if (declared !== null && declared > max) {
      abort(new UpstreamFailure("too-large", `declared body of ${declared} bytes is over ${max}`));
      this.outcome.failed(
        new UpstreamFailure("too-large", `declared body of ${declared} bytes is over ${max}`),
      );
      return false;
    }
    const read = async (maxBytes: number) => {
      try {
        return await readAll(body, Math.min(maxBytes, max));
      } catch (error) {
        throw toUpstreamFailure(error);
      }
    };
    this.outcome.answered({
      status: statusCode,
      headers,
      body: body as unknown as RawBody,
      text: async (maxBytes = max) => (await read(maxBytes)).toString("utf8"),
      bytes: async (maxBytes = max) => new Uint8Array(await read(maxBytes)),
      dump: () => body.dump(),
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#body?.receive(chunk) ?? true;
  }

  onComplete(): void {
    this.#done();
    this.#body?.complete();
  }

  onError(error: Error): void {
    this.#done();
    if (this.#body !== null) {
      this.#body.fail(toUpstreamFailure(error));
      return;
    }
    if (!this.#settled) {
      this.#settled = true;
      this.outcome.failed(error);
    }
  }
}

/** Options of the Node upstream client. */
export interface UndiciUpstreamOptions {
  /** Addresses the guarded connector lets through although private (PROXY_ALLOWED_HOSTS ip:port). */
  readonly allowedAddresses: readonly AddressRule[];
  readonly connectTimeoutMs?: number;
  /** Overrides DNS for the guarded connector (tests). */
  readonly lookup?: LookupAll;
  /** Told of every call's outcome (the metrics), by the upstream's origin. */
  readonly observer?: UpstreamObserver;
}

/** What the upstream client reports of each call; called on the request path, so kept to numbers. */
export interface UpstreamObserver {
  /** Response headers arrived after `milliseconds`. */
  upstreamAnswered(origin: string, status: number, milliseconds: number): void;
  /** No response came: an UpstreamFailureKind. */
  upstreamFailed(origin: string, kind: string): void;
}

/**
 * The Node server's upstream client: undici pools with keep-alive and streamed bodies both ways
 * (the global fetch measured 3-4x slower on the pass-through routes). Trusted upstreams (the
 * configured TPOS, Pancake and Graph origins) use a plain pool; caller-chosen URLs use a pool whose
 * connector runs the SSRF guard.
 */
export class UndiciUpstream implements Upstream {
  private readonly trusted: Agent;
  private readonly guarded: Agent;
  private readonly observer: UpstreamObserver | undefined;

  constructor(options: UndiciUpstreamOptions) {
    this.observer = options.observer;
    const timeout = options.connectTimeoutMs ?? 5000;
    const pool = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, pipelining: 1 };
    this.trusted = new Agent({ ...pool, connect: { timeout } });
    this.guarded = new Agent({
      ...pool,
      connect: guardedConnector(options.allowedAddresses, {
        timeoutMs: timeout,
        ...(options.lookup ? { lookup: options.lookup } : {}),
      }),
    });
  }

  request(upstreamRequest: UpstreamRequest): Promise<UpstreamResponse> {
    const dispatcher: Dispatcher = upstreamRequest.guarded ? this.guarded : this.trusted;
    const { url } = upstreamRequest;
    const origin = url.origin;
    const observer = this.observer;
    const started = observer === undefined ? 0 : performance.now();
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const handler = new ResponseHandler(upstreamRequest, {
        answered: (response) => {
          observer?.upstreamAnswered(origin, response.status, performance.now() - started);
          resolve(response);
        },
        failed: (error) => {
          // The request body's own failure (over its limit, see adapter/request.ts) is the caller's, as is.
          if (isApiError(error)) {
            reject(error);
            return;
          }
          const failure = toUpstreamFailure(error);
          observer?.upstreamFailed(origin, failure.kind);
          reject(failure);
        },
      });
      // The dispatcher's own dispatch(), given origin and path: undici's top-level request(url) would
      // parse and re-serialise a URL we already hold, and its response body is a full Readable fed
      // through the event loop, which the pass-through routes mostly do not need (see UpstreamBody).
      dispatcher.dispatch(
        {
          origin,
          path: `${url.pathname}${url.search}`,
          method: upstreamRequest.method as Dispatcher.HttpMethod,
          headers: upstreamRequest.headers,
          body: (upstreamRequest.body as Readable | Uint8Array | string | null | undefined) ?? null,
          headersTimeout: upstreamRequest.timeoutMs,
          bodyTimeout: upstreamRequest.timeoutMs,
        },
        handler,
      );
    });
  }

  async readRaw(body: RawBody, maxBytes: number): Promise<Uint8Array> {
    const stream = body as unknown as Readable | Uint8Array | string;
    if (typeof stream === "string") {
      return new TextEncoder().encode(stream);
    }
    if (stream instanceof Uint8Array) {
      return stream;
    }
    return new Uint8Array(await readAll(stream, maxBytes));
  }

  tee(body: RawBody, maxBytes: number): { body: RawBody; captured: Promise<Uint8Array | null> } {
    const source = body as unknown as Readable;
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    const passOn = new PassThrough();
    const captured = new Promise<Uint8Array | null>((resolve) => {
      source.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          overflow = true;
          chunks.length = 0;
        } else if (!overflow) {
          chunks.push(chunk);
        }
      });
      passOn.once("finish", () => resolve(overflow ? null : new Uint8Array(Buffer.concat(chunks))));
      passOn.once("close", () => resolve(null));
      source.once("error", (error) => {
        resolve(null);
        passOn.destroy(error);
      });
    });
    source.pipe(passOn);
    return { body: passOn as unknown as RawBody, captured };
  }

  async close(): Promise<void> {
    await Promise.all([this.trusted.close(), this.guarded.close()]);
  }
}
