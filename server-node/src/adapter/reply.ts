import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { errorResult, type Logger } from "@n2store/core";
import type { AnyResult } from "@n2store/generated";
import type { FastifyReply } from "fastify";

function isStream(raw: unknown): raw is Readable {
  return typeof (raw as Readable | null)?.pipe === "function";
}

function setHeaders(raw: ServerResponse, headers: OutgoingHttpHeaders): void {
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) {
      raw.setHeader(name, value);
    }
  }
}

/** Where a stream's failure is logged and which request id its error body carries. */
interface Origin {
  readonly log: Logger;
  readonly requestId: string;
}

/**
 * A streamed body (a pass-through answer, an image) is piped straight into the raw response, with
 * the `common` headers (CORS, the request id) and the result's. Fastify's own stream path (onSend
 * hooks, two end-of-stream watchers) costs measurably on every pass-through request and adds
 * nothing here; the access log and the metrics still see the answer, since Fastify watches the raw
 * response's `finish` for every reply, hijacked or not (and the lane watches it itself). As in
 * Fastify's path the headers go out with the first bytes, so a body that fails before any byte
 * still gets the one error shape (with only the `common` headers); one that fails later cuts the
 * response.
 */
function pipeStream(
  raw: ServerResponse,
  common: OutgoingHttpHeaders,
  result: AnyResult & { raw: unknown },
  body: Readable,
  origin: Origin,
): void {
  raw.statusCode = result.status;
  setHeaders(raw, common);
  setHeaders(raw, result.headers ?? {});
  if ("contentType" in result) {
    raw.setHeader("content-type", result.contentType);
  }
  body.once("error", (error: Error) => {
    body.unpipe(raw);
    if (raw.headersSent) {
      origin.log.warn({ err: error }, "response terminated with an error with headers already sent");
      raw.destroy();
      return;
    }
    const failed = errorResult(error, origin);
    for (const name of raw.getHeaderNames()) {
      raw.removeHeader(name);
    }
    writeWhole(raw, common, failed);
  });
  // The caller went away before the end: stop reading the upstream (which frees its connection).
  raw.once("close", () => {
    if (!body.readableEnded) {
      body.destroy();
    }
  });
  body.pipe(raw);
}

/**
 * Writes a result that is not a stream (JSON, bytes, text or nothing) whole, with Content-Length,
 * as Fastify's `reply.send` writes it: no Content-Length on a 204 or a 304.
 */
function writeWhole(raw: ServerResponse, common: OutgoingHttpHeaders, result: AnyResult): void {
  raw.statusCode = result.status;
  setHeaders(raw, common);
  setHeaders(raw, result.headers ?? {});
  let payload: string | Uint8Array | null = null;
  if ("body" in result) {
    raw.setHeader("content-type", "application/json; charset=utf-8");
    payload = JSON.stringify(result.body);
  } else if ("raw" in result) {
    if ("contentType" in result) {
      raw.setHeader("content-type", result.contentType);
    }
    payload = (result.raw as string | Uint8Array | null) ?? "";
  }
  if (result.status === 204 || result.status === 304) {
    raw.end();
    return;
  }
  raw.setHeader("content-length", payload === null ? 0 : Buffer.byteLength(payload));
  raw.end(payload ?? undefined);
}

/**
 * Writes a handler result on a raw response outside Fastify (the pass-through lane, which never
 * serves HEAD): a stream is piped, anything else written whole.
 */
export function writeResult(
  raw: ServerResponse,
  common: OutgoingHttpHeaders,
  result: AnyResult,
  origin: Origin,
): void {
  if ("raw" in result && isStream(result.raw)) {
    pipeStream(raw, common, result, result.raw, origin);
  } else {
    writeWhole(raw, common, result);
  }
}

/** Writes a handler result (JSON, bytes, a stream or nothing) to the Fastify reply. */
export function sendResult(reply: FastifyReply, result: AnyResult): FastifyReply {
  // HEAD has no body to pipe: Fastify's path knows to send none.
  if ("raw" in result && isStream(result.raw) && reply.request.method !== "HEAD") {
    reply.hijack();
    pipeStream(reply.raw, reply.getHeaders() as OutgoingHttpHeaders, result, result.raw, {
      log: reply.log,
      requestId: reply.request.id,
    });
    return reply;
  }
  reply.code(result.status);
  if (result.headers !== undefined) {
    reply.headers(result.headers);
  }
  if ("body" in result) {
    return reply.type("application/json; charset=utf-8").send(JSON.stringify(result.body));
  }
  if ("raw" in result) {
    if ("contentType" in result) {
      reply.type(result.contentType);
    }
    return reply.send(result.raw ?? "");
  }
  return reply.send();
}
