import type { AnyResult } from "@n2store/generated";
import type { FastifyReply } from "fastify";

/** Writes a handler result (JSON, bytes, a stream or nothing) to the Fastify reply. */
export function sendResult(reply: FastifyReply, result: AnyResult): FastifyReply {
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
