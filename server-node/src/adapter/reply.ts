import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { errorResult, type Logger } from "@n2store/core";
import type { AnyResult } from "@n2store/generated";
import type { FastifyReply } from "fastify";
import { UpstreamBody } from "../upstream/upstream-body.js";

function isStream(raw: unknown): raw is Readable {
  return typeof (raw as Readable | null)?.pipe === "function";
}

/** Where a stream's failure is logged and which request id its error body carries. */
interface Origin {
  readonly log: Logger;
  readonly requestId: string;
}

/**
 * The response head: the request id, the `common` headers (CORS), then the result's, one object
 * written once with `writeHead` (each `setHeader` keeps its own entry, checked again when the head
 * is written).
 */
function headOf(
  common: Readonly<OutgoingHttpHeaders>,
  requestId: string,
  result: AnyResult,
): OutgoingHttpHeaders {
  // Fastify's reply already holds the request id among its headers; the lane's `common` does not.
  const head: OutgoingHttpHeaders = { "x-request-id": requestId };
  for (const name in common) {
    const value = common[name];
    if (value !== undefined) {
      head[name] = value;
    }
  }
  const extra = result.headers;
  if (extra !== undefined) {
    for (const name in extra) {
      head[name] = extra[name];
    }
  }
  return head;
}

/**
 * A streamed body (a pass-through answer, an image) is forwarded chunk by chunk into the raw
 * response, with the head (`common`, the request id, the result's headers) written with the first
 * chunk. Fastify's own stream path (onSend hooks, two end-of-stream watchers) and `pipe()` (six
 * listeners a request) cost measurably on every pass-through request and add nothing here; the
 * access log and the metrics still see the answer, since Fastify watches the raw response's
 * `finish` for every reply, hijacked or not (and the lane watches it itself). As the head goes out
 * with the first bytes, a body that fails before any byte still gets the one error shape (with only
 * the `common` headers); one that fails later cuts the response. A slow caller pauses the upstream
 * (the write's backpressure), and a caller that goes away stops it.
 */
function forwardStream(
  raw: ServerResponse,
  common: Readonly<OutgoingHttpHeaders>,
  result: AnyResult & { raw: unknown },
  body: Readable,
  origin: Origin,
): void {
  let started = false;
  const start = () => {
    started = true;
    const head = headOf(common, origin.requestId, result);
    if ("contentType" in result) {
      head["content-type"] = result.contentType;
    }
    raw.writeHead(result.status, head);
  };
  const fail = (error: Error) => {
    if (started) {
      origin.log.warn({ err: error }, "response terminated with an error with headers already sent");
      raw.destroy();
      return;
    }
    writeWhole(raw, common, errorResult(error, origin), origin.requestId);
  };
  // An upstream body nobody has read yet goes straight to the socket, without the stream machinery.
  if (
    body instanceof UpstreamBody &&
    body.forward({
      write: (chunk) => {
        if (!started) {
          start();
        }
        return raw.write(chunk);
      },
      onDrain: (resume) => raw.once("drain", resume),
      end: () => {
        if (!started) {
          start();
        }
        raw.end();
      },
      fail,
    })
  ) {
    // The caller went away before the end: stop the upstream (which frees its connection).
    raw.once("close", () => body.release());
    return;
  }
  const resume = () => body.resume();
  const onData = (chunk: Buffer) => {
    if (!started) {
      start();
    }
    if (!raw.write(chunk)) {
      body.pause();
      raw.once("drain", resume);
    }
  };
  body.on("data", onData);
  body.once("end", () => {
    if (!started) {
      start();
    }
    raw.end();
  });
  body.once("error", (error: Error) => {
    body.removeListener("data", onData);
    fail(error);
  });
  // The caller went away before the end: stop reading the upstream (which frees its connection).
  raw.once("close", () => {
    if (!body.readableEnded) {
      body.destroy();
    }
  });
}

/**
 * Writes a result that is not a stream (JSON, bytes, text or nothing) whole, with Content-Length,
 * as Fastify's `reply.send` writes it: no Content-Length on a 204 or a 304.
 */
function writeWhole(
  raw: ServerResponse,
  common: Readonly<OutgoingHttpHeaders>,
  result: AnyResult,
  requestId: string,
): void {
  const head = headOf(common, requestId, result);
  let payload: string | Uint8Array | null = null;
  if ("body" in result) {
    head["content-type"] = "application/json; charset=utf-8";
    payload = JSON.stringify(result.body);
  } else if ("raw" in result) {
    if ("contentType" in result) {
      head["content-type"] = result.contentType;
    }
    payload = (result.raw as string | Uint8Array | null) ?? "";
  }
  if (result.status !== 204 && result.status !== 304) {
    head["content-length"] = payload === null ? 0 : Buffer.byteLength(payload);
  }
  raw.writeHead(result.status, head);
  raw.end(result.status === 204 || result.status === 304 ? undefined : (payload ?? undefined));
}

/**
 * Writes a handler result on a raw response outside Fastify (the pass-through lane, which never
 * serves HEAD): a stream is forwarded, anything else written whole.
 */
export function writeResult(
  raw: ServerResponse,
  common: Readonly<OutgoingHttpHeaders>,
  result: AnyResult,
  origin: Origin,
): void {
  if ("raw" in result && isStream(result.raw)) {
    forwardStream(raw, common, result, result.raw, origin);
  } else {
    writeWhole(raw, common, result, origin.requestId);
  }
}

/** Writes a handler result (JSON, bytes, a stream or nothing) to the Fastify reply. */
export function sendResult(reply: FastifyReply, result: AnyResult): FastifyReply {
  // HEAD has no body to pipe: Fastify's path knows to send none.
  if ("raw" in result && isStream(result.raw) && reply.request.method !== "HEAD") {
    reply.hijack();
    forwardStream(reply.raw, reply.getHeaders() as OutgoingHttpHeaders, result, result.raw, {
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
