import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import {
  type IncomingBody,
  type IncomingRequest,
  mediaType,
  payloadTooLarge,
  RAW_BODY_LIMIT,
} from "@n2store/core";
import type { OperationSpec, RawBody } from "@n2store/generated";
import type { FastifyRequest } from "fastify";

/**
 * Fails a pass-through request body past RAW_BODY_LIMIT while it streams to the upstream. The failure
 * is the caller's 413 (the upstream saw an aborted request, never a complete one); a plain Error here
 * used to surface as 502 UPSTREAM_UNREACHABLE for a chunked body over the limit.
 *
 * The rest of such a body is then read and dropped: Node does not drain a request body that someone
 * started reading, so it stayed unread on the keep-alive connection and the client's next request on
 * it hung (seen as a stall after two chunked uploads over the limit). Past twice the limit the
 * connection is dropped instead.
 */
function limited(payload: Readable): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen <= RAW_BODY_LIMIT) {
        callback(null, chunk);
        return;
      }
      payload.unpipe(counter);
      payload.on("data", (more: Buffer) => {
        seen += more.length;
        if (seen > 2 * RAW_BODY_LIMIT) {
          payload.destroy();
        }
      });
      payload.resume();
      callback(payloadTooLarge(RAW_BODY_LIMIT));
    },
  });
  payload.on("error", (error) => counter.destroy(error));
  return payload.pipe(counter);
}

function body(operation: OperationSpec, request: FastifyRequest): IncomingBody {
  if (operation.body?.raw === true) {
    if (request.body === undefined || request.body === null) {
      return { kind: "none" };
    }
    const declared = Number(request.headers["content-length"] ?? Number.NaN);
    if (declared > RAW_BODY_LIMIT) {
      throw payloadTooLarge(RAW_BODY_LIMIT);
    }
    return { kind: "raw", value: limited(request.body as Readable) as unknown as RawBody };
  }
  const contentType = mediaType(request.headers["content-type"]);
  if (request.body === undefined || contentType === null) {
    return { kind: "none" };
  }
  return { kind: "parsed", contentType, value: request.body };
}

/**
 * Lower-case header names with repeated headers joined, as the shared pipeline expects them. Node
 * already lower-cases names and joins repeats of every header but a few (set-cookie); only a request
 * that carries one of those as an array needs a copy, every other one is used as it is (read-only).
 */
function headers(request: FastifyRequest): Readonly<Record<string, string>> {
  const given = request.headers;
  for (const name in given) {
    if (typeof given[name] !== "string") {
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries(given)) {
        if (value !== undefined) {
          out[key] = Array.isArray(value) ? value.join(", ") : value;
        }
      }
      return out;
    }
  }
  return given as Record<string, string>;
}

/** A Fastify request as the shared pipeline's IncomingRequest (Fastify names the catch-all `*`). */
export function toIncomingRequest(operation: OperationSpec, request: FastifyRequest): IncomingRequest {
  // Built afresh rather than copied and `delete`d: a deleted key turns the object into a slow
  // dictionary, which every validator and handler then reads on every pass-through request.
  const given = request.params as Record<string, string>;
  const params: Record<string, string> = {};
  for (const name in given) {
    if (name !== "*") {
      params[name] = given[name] as string;
    }
  }
  if (operation.catchAll !== null) {
    params[operation.catchAll] = given["*"] ?? "";
  }
  const questionMark = request.url.indexOf("?");
  return {
    params,
    query: request.query as Record<string, string | string[]>,
    rawQuery: questionMark < 0 ? "" : request.url.slice(questionMark + 1),
    headers: headers(request),
    body: body(operation, request),
  };
}
