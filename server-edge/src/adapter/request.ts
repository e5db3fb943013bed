import {
  BAD_PERCENT_ENCODING,
  type IncomingBody,
  type IncomingRequest,
  invalidPath,
  JSON_BODY_LIMIT,
  mediaType,
  parseJsonBody,
  payloadTooLarge,
  RAW_BODY_LIMIT,
  unsupportedMediaType,
} from "@n2store/core";
import type { OperationSpec, RawBody } from "@n2store/generated";
import type { IRequestStrict } from "itty-router";
import { byteLimit, readAll } from "../streams.js";

/**
 * A refused body up to this size is read to its end and dropped rather than cancelled: a body left
 * half-read breaks the keep-alive connection in workerd, so the next request on it got a plain-text
 * 503 instead of its answer (a 21 MiB POST alternated 413 and 503). 100 MiB is the most Cloudflare
 * passes to a Worker on the Free and Pro plans; past it the body is cancelled.
 */
const DRAIN_LIMIT = 100 * 1024 * 1024;

/** The caller's 413 for a body over `limit` bytes, when a stream finds it. */
const overLimit = (limit: number) => () => payloadTooLarge(limit);

/**
 * Reads the body the way Fastify does on the Node server, so both runtimes refuse the same input in
 * the same order: size first (413), then the media type (415), then JSON syntax (400).
 */
async function body(operation: OperationSpec, request: Request): Promise<IncomingBody> {
  if (request.body === null || request.method === "GET" || request.method === "HEAD") {
    return { kind: "none" };
  }
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (operation.body?.raw === true) {
    if (declared > RAW_BODY_LIMIT) {
      throw payloadTooLarge(RAW_BODY_LIMIT);
    }
    if (Number.isNaN(declared)) {
      // No declared size (chunked): read it before anything is sent. workerd's fetch() ends an
      // upload cleanly when its source stream errors, so a body found too large half-way used to
      // reach the upstream cut at the limit as if complete (a 21 MiB chunked POST delivered as
      // exactly 20 MiB). Past the limit up to DRAIN_LIMIT is read and dropped, so the connection
      // stays usable for the next request.
      const bytes = await readAll(request.body, RAW_BODY_LIMIT, overLimit(RAW_BODY_LIMIT), DRAIN_LIMIT);
      return { kind: "raw", value: bytes as unknown as RawBody };
    }
    // A declared size within the limit streams through, failing should it send more than it said.
    return {
      kind: "raw",
      value: request.body.pipeThrough(
        byteLimit(RAW_BODY_LIMIT, overLimit(RAW_BODY_LIMIT)),
      ) as unknown as RawBody,
    };
  }
  if (declared > JSON_BODY_LIMIT) {
    throw payloadTooLarge(JSON_BODY_LIMIT);
  }
  const bytes = await readAll(request.body, JSON_BODY_LIMIT, overLimit(JSON_BODY_LIMIT), DRAIN_LIMIT);
  const contentType = mediaType(request.headers.get("content-type"));
  if (bytes.byteLength === 0) {
    return { kind: "none" };
  }
  const text = new TextDecoder().decode(bytes);
  if (contentType === "application/json") {
    return { kind: "parsed", contentType, value: parseJsonBody(text) };
  }
  if (contentType === "application/x-www-form-urlencoded") {
    return { kind: "parsed", contentType, value: Object.fromEntries(new URLSearchParams(text)) };
  }
  throw unsupportedMediaType(operation.body?.contentTypes ?? ["application/json"]);
}

/**
 * A path parameter, percent-decoded. A value that is not valid percent-encoding (`%E0%A4%A`) is
 * refused as the Node server's router refuses it, rather than forwarded with its `%` re-escaped
 * (the two runtimes used to disagree: 400 on Node, a request to a different upstream path here).
 */
function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalidPath(BAD_PERCENT_ENCODING);
  }
}

/**
 * Consumes what is left of a request body nobody read (a refused pass-through, a GET with a body).
 * Left unread, or cancelled half-read, it stalls the next request on the same keep-alive connection
 * in workerd; reading it to the end keeps the connection usable. Past the body limit (a request
 * already refused with 413) it is cancelled.
 */
export async function discardUnreadBody(
  request: Request,
  incoming: IncomingRequest | undefined,
): Promise<void> {
  // A raw body is a stream, or bytes already read (readAll): those leave nothing to drain.
  const value: unknown = incoming?.body.kind === "raw" ? incoming.body.value : null;
  const raw = value instanceof ReadableStream ? (value as ReadableStream<Uint8Array>) : null;
  const stream = raw ?? (request.bodyUsed ? null : request.body);
  if (stream === null || stream.locked) {
    return;
  }
  const reader = stream.getReader();
  let drained = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        return;
      }
      drained += value.byteLength;
      if (drained > DRAIN_LIMIT) {
        await reader.cancel();
        return;
      }
    }
  } catch {
    // The body failed (over the limit, or the client went away): nothing left to keep.
  } finally {
    reader.releaseLock();
  }
}

/** An itty-router request as the shared pipeline's IncomingRequest (itty hands over raw path captures). */
export async function toIncomingRequest(
  operation: OperationSpec,
  request: IRequestStrict,
): Promise<IncomingRequest> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.params)) {
    params[name] = decode(value);
  }
  const url = new URL(request.url);
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const existing = query[name];
    query[name] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  const headers: Record<string, string> = {};
  request.headers.forEach((value: string, name: string) => {
    headers[name] = value;
  });
  return {
    params,
    query,
    rawQuery: url.search.slice(1),
    headers,
    body: await body(operation, request),
  };
}
