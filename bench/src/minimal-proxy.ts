/**
 * The floor: the least a Fastify + undici pass-through can do (one route, no validation, no
 * headers policy, no logging), measured in the same run so the gateway's own cost shows as the
 * difference. It passes Content-Length on as the gateway does: without it Fastify streams the body
 * chunked, which cost this floor a third of its rate and made it look lower than it is. Not a
 * product: it has no SSRF guard, no limits and no error shape. Prints its URL.
 */
import Fastify from "fastify";
import { Agent } from "undici";

const upstream = new URL(process.env.UPSTREAM_URL ?? "");
const agent = new Agent({ keepAliveTimeout: 10_000 });
const app = Fastify({ logger: false });
app.get("/api/rest/*", async (incoming, reply) => {
  const answer = await agent.request({
    origin: upstream.origin,
    path: `/rest/${(incoming.params as { "*": string })["*"]}`,
    method: "GET",
    headers: { accept: "*/*" },
  });
  reply.code(answer.statusCode).header("content-type", answer.headers["content-type"]);
  if (answer.headers["content-length"] !== undefined) {
    reply.header("content-length", answer.headers["content-length"]);
  }
  return reply.send(answer.body);
});
await app.listen({ port: 0, host: "127.0.0.1" });
const address = app.server.address();
console.log(`MINIMAL http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`);
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
