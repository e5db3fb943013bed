/**
 * The floor: the least a Fastify + undici pass-through can do (one route, no validation, no
 * headers policy, no logging), measured in the same run so the gateway's own cost shows as the
 * difference. Not a product: it has no SSRF guard, no limits and no error shape. Prints its URL.
 */
import Fastify from "fastify";
import { Agent, request } from "undici";

const upstream = process.env.UPSTREAM_URL ?? "";
const agent = new Agent({ keepAliveTimeout: 10_000 });
const app = Fastify({ logger: false });
app.get("/api/rest/*", async (incoming, reply) => {
  const answer = await request(`${upstream}/rest/${(incoming.params as { "*": string })["*"]}`, {
    dispatcher: agent,
    headers: { accept: "*/*" },
  });
  reply.code(answer.statusCode).header("content-type", answer.headers["content-type"]);
  return reply.send(answer.body);
});
await app.listen({ port: 0, host: "127.0.0.1" });
const address = app.server.address();
console.log(`MINIMAL http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`);
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
