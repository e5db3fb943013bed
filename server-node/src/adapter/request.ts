import type { IncomingHttpHeaders } from "node:http";
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

/** What an adapter hands over: the routed parameters, the parsed query and the body as parsed. */
export interface RoutedRequest {
  /** The router's parameters; Fastify and find-my-way name the catch-all `*`. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | string[]>>;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The body as Fastify's content-type parsers leave it (a stream for raw operations). */
  readonly body: unknown;
}

function body(operation: OperationSpec, request: RoutedRequest): IncomingBody {
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
function headers(given: IncomingHttpHeaders): Readonly<Record<string, string>> {
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

/** A routed request (Fastify's, or the pass-through lane's) as the shared pipeline's IncomingRequest. */
export function toIncomingRequest(operation: OperationSpec, request: RoutedRequest): IncomingRequest {
  // Built afresh rather than copied and `delete`d: a deleted key turns the object into a slow
  // dictionary, which every validator and handler then reads on every pass-through request.
  const given = request.params;
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
    query: request.query,
    rawQuery: questionMark < 0 ? "" : request.url.slice(questionMark + 1),
    headers: headers(request.headers),
    body: body(operation, request),
  };
}
