/**
 * HTTP plumbing shared by the fakes: listen on 127.0.0.1:0, record every request, read bodies
 * without holding large ones, apply armed faults, track sockets so close() never hangs, and a few
 * response helpers. Each fake only supplies a route handler.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Fault, FaultControl } from "./faults.js";
import { createFaultControl } from "./faults.js";

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** Pathname only, e.g. `/odata/Partner`. */
  path: string;
  query: URLSearchParams;
  /** Lower-cased names; repeated headers are joined with ", ". */
  headers: Record<string, string>;
  /** UTF-8 body, cut at the server's `maxRecordedBodyBytes` (see `bodyBytes` for the real size). */
  body: string;
  /** Full body size in bytes, even when `body` was cut. */
  bodyBytes: number;
  /** Hex SHA-256 of the full body. */
  bodySha256: string;
  /** `Date.now()` when the body had been read. */
  at: number;
}

/** What a route handler gets: the record plus the raw Node request. */
export interface FakeRequest extends RecordedRequest {
  raw: IncomingMessage;
}

/** A fake's route handler; it must end the response (or deliberately leave it hanging). */
type RouteHandler = (req: FakeRequest, res: ServerResponse) => void | Promise<void>;

/** Called for HTTP upgrade requests that passed fault handling (used by the Phoenix fake). */
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Options of `startFakeServer`. */
export interface FakeServerOptions {
  handler: RouteHandler;
  /** Serve `/echo` and `/echo/*` (any method) with a JSON description of the request. */
  echo?: boolean;
  /** Bodies are hashed in full but only this many bytes are kept as text (default 1 MiB). */
  maxRecordedBodyBytes?: number;
  onUpgrade?: UpgradeHandler;
  /** Headers added to every response the handler writes (e.g. TPOS's `tposappversion`). */
  defaultHeaders?: () => Record<string, string>;
}

/** A running fake HTTP server. */
export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  server: Server;
  requests: RecordedRequest[];
  fault: FaultControl;
  /** Resolves after `ms`; the timer is unref'd and dropped on close (the promise then never settles). */
  delay(ms: number): Promise<void>;
  /** Runs `fn` after `ms` unless the server closed first; unref'd. */
  later(ms: number, fn: () => void): void;
  readonly closed: boolean;
  /** Destroys every open socket (hanging requests and upgraded WebSockets included) and stops listening. */
  close(): Promise<void>;
}

/** The part of every fake's handle that is common to all of them. */
export interface FakeHandle {
  /** Base URL without a trailing slash. */
  url: string;
  requests: RecordedRequest[];
  fault: FaultControl;
  /** Clears recorded requests, armed faults and the fake's own state back to its seed. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_MAX_RECORDED = 1024 * 1024;

function flattenHeaders(raw: IncomingMessage["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) {
      out[name] = Array.isArray(value) ? value.join(", ") : value;
    }
  }
  return out;
}

async function readBody(
  req: IncomingMessage,
  keep: number,
): Promise<{ text: string; bytes: number; sha: string }> {
  const hash = createHash("sha256");
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let bytes = 0;
  // Stream through the hash so multi-megabyte uploads in size-limit tests are never held in memory.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    if (keptBytes < keep) {
      const part = chunk.subarray(0, keep - keptBytes);
      kept.push(part);
      keptBytes += part.length;
    }
  }
  return { text: Buffer.concat(kept).toString("utf8"), bytes, sha: hash.digest("hex") };
}

/**
 * A response body describing `req`, for the opt-in `/echo/*` route: method, path, raw query and
 * parsed params, headers, body length and SHA-256; `body` is the text only up to 64 KiB, else null.
 */
function describeRequest(req: RecordedRequest, maxRecorded = DEFAULT_MAX_RECORDED): Record<string, unknown> {
  const params: Record<string, string[]> = {};
  for (const [k, v] of req.query) {
    const list = params[k] ?? [];
    list.push(v);
    params[k] = list;
  }
  return {
    method: req.method,
    path: req.path,
    query: req.query.toString(),
    params,
    headers: req.headers,
    bodyLength: req.bodyBytes,
    bodySha256: req.bodySha256,
    body: req.bodyBytes <= Math.min(maxRecorded, 64 * 1024) ? req.body : null,
  };
}

/** Sends `body` as JSON (content-type overridable through `headers`). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Sends raw bytes or text with the given content type. */
export function sendBody(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  const buf = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { "content-type": contentType, "content-length": String(buf.length), ...headers });
  res.end(buf);
}

/** Answers a redirect with an empty body. */
export function redirect(res: ServerResponse, location: string, status = 302): void {
  res.writeHead(status, { location, "content-length": "0" });
  res.end();
}

/**
 * Streams `bytes` generated bytes with backpressure, never allocating more than one 64 KiB chunk,
 * so size-limit tests can ask for hundreds of megabytes. `chunked` omits Content-Length, which is
 * how a proxy learns the size only while reading.
 */
export function streamGenerated(
  res: ServerResponse,
  bytes: number,
  contentType: string,
  options: { chunked?: boolean } = {},
): void {
  const headers: Record<string, string> = { "content-type": contentType };
  if (options.chunked !== true) {
    headers["content-length"] = String(bytes);
  }
  res.writeHead(200, headers);
  const chunk = Buffer.alloc(64 * 1024, "N2Store-fake-body;");
  let left = bytes;
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once("drain", pump);
        return;
      }
    }
    if (!res.destroyed) {
      res.end();
    }
  };
  pump();
}

/** Parses JSON without throwing; `ok:false` lets handlers answer their upstream's own error. */
export function tryJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** True for a plain (non-array) object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function b64url(input: string | Buffer): string {
  return Buffer.from(input).toString("base64url");
}

/**
 * A syntactically real HS256 JWT (`eyJ…`) with the given claims. Fakes only compare tokens as
 * strings, but gateways sometimes decode the payload (Pancake's `uid`), so the claims are real.
 */
export function fakeJwt(claims: Record<string, unknown>, secret = "n2store-fake-secret"): string {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** Random lowercase hex, for ids that must be unique per issue. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

/** Reads a non-negative integer query parameter, or undefined when absent or malformed. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || !/^\d+$/.test(v)) {
    return undefined;
  }
  return Number(v);
}

/** Answers an HTTP upgrade request with a plain HTTP status and closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} Fake\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Starts a fake server on 127.0.0.1 with an ephemeral port. */
export async function startFakeServer(options: FakeServerOptions): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const requests: RecordedRequest[] = [];
  const fault = createFaultControl();
  const maxRecorded = options.maxRecordedBodyBytes ?? DEFAULT_MAX_RECORDED;
  let closed = false;

  const later = (ms: number, fn: () => void): void => {
    if (closed) {
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    t.unref();
    timers.add(t);
  };
  const delay = (ms: number): Promise<void> => new Promise((resolve) => later(ms, resolve));

  /** Applies a fault to a normal request; returns true when the fault fully handled it. */
  const applyFault = async (f: Fault, req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    switch (f.mode) {
      case "slow":
        await delay(f.ms);
        return closed;
      case "hang":
        return true;
      case "reset":
        req.socket.resetAndDestroy();
        return true;
      case "garbage":
        if (f.kind === "truncated") {
          res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
          // Flush a partial chunk, then cut the socket so the terminating chunk never arrives.
          res.write('{"@odata.context":"truncated","value":[{"Id":1,"Name":"tr', () => req.socket.destroy());
        } else {
          sendBody(res, 200, "<html><body>502 Bad Gateway {not json", "text/html; charset=utf-8");
        }
        return true;
      case "status":
        if (typeof f.body === "string" || Buffer.isBuffer(f.body)) {
          sendBody(res, f.status, f.body, "text/plain; charset=utf-8", f.headers ?? {});
        } else {
          sendJson(res, f.status, f.body ?? {}, f.headers ?? {});
        }
        return true;
    }
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      let body: { text: string; bytes: number; sha: string };
      try {
        body = await readBody(req, maxRecorded);
      } catch {
        return; // The client aborted mid-body; nothing to answer.
      }
      const rec: FakeRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers: flattenHeaders(req.headers),
        body: body.text,
        bodyBytes: body.bytes,
        bodySha256: body.sha,
        at: Date.now(),
        raw: req,
      };
      // Record without the raw request so test output and deep-equals stay readable.
      const { raw: _raw, ...record } = rec;
      requests.push(record);
      const f = fault.take(rec.method, rec.path);
      if (f !== undefined && (await applyFault(f, req, res))) {
        return;
      }
      for (const [k, v] of Object.entries(options.defaultHeaders?.() ?? {})) {
        res.setHeader(k, v);
      }
      if (options.echo === true && (rec.path === "/echo" || rec.path.startsWith("/echo/"))) {
        sendJson(res, 200, describeRequest(rec, maxRecorded));
        return;
      }
      await options.handler(rec, res);
    })().catch((err: unknown) => {
      // A bug in a fake must surface as a visible 500 rather than a hung test.
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) {
        sendJson(res, 500, { fakeError: message });
      } else {
        res.destroy();
      }
    });
  });

  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const headers = flattenHeaders(req.headers);
    requests.push({
      method,
      path: url.pathname,
      query: url.searchParams,
      headers,
      body: "",
      bodyBytes: 0,
      bodySha256: createHash("sha256").digest("hex"),
      at: Date.now(),
    });
    socket.on("error", () => socket.destroy());
    const proceed = (): void => {
      if (options.onUpgrade === undefined) {
        rejectUpgrade(socket, 404, "no upgrade here");
      } else {
        options.onUpgrade(req, socket, head);
      }
    };
    const f = fault.take(method, url.pathname);
    if (f === undefined) {
      proceed();
      return;
    }
    switch (f.mode) {
      case "slow":
        later(f.ms, proceed);
        return;
      case "hang":
        return;
      case "reset":
        socket.destroy();
        return;
      case "garbage":
        socket.end("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>not a websocket");
        return;
      case "status":
        rejectUpgrade(socket, f.status, typeof f.body === "string" ? f.body : JSON.stringify(f.body ?? {}));
        return;
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("fake server has no TCP address");
  }
  const port = address.port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    requests,
    fault,
    delay,
    later,
    get closed() {
      return closed;
    },
    async close() {
      if (closed) {
        return;
      }
      closed = true;
      for (const t of timers) {
        clearTimeout(t);
      }
      timers.clear();
      for (const s of sockets) {
        s.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Builds the common part of a fake's handle; `resetState` restores the fake's own seed. */
export function baseHandle(srv: FakeServer, resetState: () => void = () => {}): FakeHandle {
  return {
    url: srv.url,
    requests: srv.requests,
    fault: srv.fault,
    reset() {
      srv.requests.length = 0;
      srv.fault.clear();
      resetState();
    },
    close: () => srv.close(),
  };
}
