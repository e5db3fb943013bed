import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { ApiError, type IncomingBody, type IncomingRequest, RAW_BODY_LIMIT } from "@n2store/core";
import type { OperationSpec, RawBody } from "@n2store/generated";
import type { FastifyRequest } from "fastify";

function mediaType(header: string | undefined): string | null {
  const type = header?.split(";", 1)[0]?.trim().toLowerCase();
  return type === undefined || type === "" ? null : type;
}

/** Fails a pass-through request body past RAW_BODY_LIMIT while it streams to the upstream. */
function limited(payload: Readable): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(seen > RAW_BODY_LIMIT ? new Error(`request body over ${RAW_BODY_LIMIT} bytes`) : null, chunk);
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
      throw new ApiError("PAYLOAD_TOO_LARGE", `The request body is larger than ${RAW_BODY_LIMIT} bytes.`, {
        nothingSent: true,
      });
    }
    return { kind: "raw", value: limited(request.body as Readable) as unknown as RawBody };
  }
  const contentType = mediaType(request.headers["content-type"]);
  if (request.body === undefined || contentType === null) {
    return { kind: "none" };
  }
  return { kind: "parsed", contentType, value: request.body };
}

/** Lower-case header names with repeated headers joined, as the shared pipeline expects them. */
function headers(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) {
      out[name] = Array.isArray(value) ? value.join(", ") : value;
    }
  }
  return out;
}

/** A Fastify request as the shared pipeline's IncomingRequest (Fastify names the catch-all `*`). */
export function toIncomingRequest(operation: OperationSpec, request: FastifyRequest): IncomingRequest {
  const params: Record<string, string> = { ...(request.params as Record<string, string>) };
  if (operation.catchAll !== null) {
    params[operation.catchAll] = params["*"] ?? "";
    delete params["*"];
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
