/**
 * The baseline a shop would otherwise write: Express 5 with http-proxy-middleware, forwarding
 * `/api/rest/*` and `/api/proxy?url=` to the upstream with a keep-alive agent (without one it
 * measured 1.4-2.0 k req/s here, so the comparison would flatter the gateway). Prints its URL.
 */
import { Agent } from "node:http";
import express from "express";
import { createProxyMiddleware } from "http-proxy-middleware";

const upstream = process.env.UPSTREAM_URL ?? "";
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const app = express();
app.use(
  "/api/rest",
  createProxyMiddleware({ target: `${upstream}/rest`, changeOrigin: true, agent, xfwd: false }),
);
app.use(
  "/api/proxy",
  createProxyMiddleware({
    target: upstream,
    changeOrigin: true,
    agent,
    router: (request) =>
      new URL(String(new URL(request.url ?? "", "http://x").searchParams.get("url"))).origin,
    pathRewrite: (_path, request) =>
      new URL(String(new URL(request.url ?? "", "http://x").searchParams.get("url"))).pathname,
  }),
);
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(
    `EXPRESS http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`,
  );
});
server.keepAliveTimeout = 65_000;
process.on("SIGTERM", () => server.close(() => process.exit(0)));
