import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { errorResult } from "@n2store/core";
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

/**
 * A streamed body (a pass-through answer, an image) is piped straight into the raw response, with
 * the headers Fastify holds for the reply (CORS, the request id) and the result's. Fastify's own
 * stream path (onSend hooks, two end-of-stream watchers) costs measurably on every pass-through
 * request and adds nothing here; the access log and the metrics still see the answer, since
 * Fastify watches the raw response's `finish` for every reply, hijacked or not. As in Fastify's
 * path the headers go out with the first bytes, so a body that fails before any byte still gets the
 * one error shape (with only the `common` headers); one that fails later cuts the response.
 */
function sendStream(
  reply: FastifyReply,
  common: OutgoingHttpHeaders,
  result: AnyResult & { raw: unknown },
  body: Readable,
): FastifyReply {
  reply.hijack();
  const raw = reply.raw;
  raw.statusCode = result.status;
  setHeaders(raw, common);
  setHeaders(raw, result.headers ?? {});
  if ("contentType" in result) {
    raw.setHeader("content-type", result.contentType);
  }
  body.once("error", (error: Error) => {
    body.unpipe(raw);
    if (raw.headersSent) {
      reply.log.warn({ err: error }, "response terminated with an error with headers already sent");
      raw.destroy();
      return;
    }
    const failed = errorResult(error, { log: reply.log, requestId: reply.request.id });
    const text = JSON.stringify("body" in failed ? failed.body : {});
    for (const name of raw.getHeaderNames()) {
      raw.removeHeader(name);
    }
    raw.statusCode = failed.status;
    setHeaders(raw, { ...common, ...failed.headers });
    raw.setHeader("content-type", "application/json; charset=utf-8");
    raw.setHeader("content-length", Buffer.byteLength(text));
    raw.end(text);
  });
  // The caller went away before the end: stop reading the upstream (which frees its connection).
  raw.once("close", () => {
    if (!body.readableEnded) {
      body.destroy();
    }
  });
  body.pipe(raw);
  return reply;
}

/** Writes a handler result (JSON, bytes, a stream or nothing) to the Fastify reply. */
export function sendResult(reply: FastifyReply, result: AnyResult): FastifyReply {
  // HEAD has no body to pipe: Fastify's path knows to send none.
  if ("raw" in result && isStream(result.raw) && reply.request.method !== "HEAD") {
    return sendStream(reply, reply.getHeaders() as OutgoingHttpHeaders, result, result.raw);
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
