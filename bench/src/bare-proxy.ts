/**
 * The second floor: the least any Node proxy can do here. A bare `node:http` server that streams
 * undici's `Pool.stream()` straight into the response: no framework, no routing table, no policy,
 * one prefix check. The distance from the gateway to it is the whole of what Node proxying can still
 * save on this machine. Like the Fastify floor it passes Content-Length on, and like it, it is not a
 * product (no SSRF guard, no limits, no error shape). Prints its URL.
 */
import { createServer, type ServerResponse } from "node:http";
import { Pool } from "undici";

/** The gateway's pass-through prefix, and the upstream's. */
const PREFIX = "/api/rest/";
const UPSTREAM_PREFIX = "/rest/";

const upstream = new URL(process.env.UPSTREAM_URL ?? "");
const pool = new Pool(upstream.origin, { keepAliveTimeout: 10_000 });

/** The one header object the upstream is sent, built once. */
const UPSTREAM_HEADERS = { accept: "*/*" };

const server = createServer((request, response) => {
  const url = request.url ?? "";
  if (request.method !== "GET" || !url.startsWith(PREFIX)) {
    response.writeHead(404, { "content-length": "0" }).end();
    return;
  }
  pool.stream(
    {
      path: `${UPSTREAM_PREFIX}${url.slice(PREFIX.length)}`,
      method: "GET",
      headers: UPSTREAM_HEADERS,
      opaque: response,
    },
    ({ statusCode, headers, opaque }) => {
      const out = opaque as ServerResponse;
      // The fake upstream sends each of these once, so they are plain strings.
      const type = headers["content-type"] as string;
      const length = headers["content-length"] as string | undefined;
      out.writeHead(
        statusCode,
        length === undefined ? { "content-type": type } : { "content-type": type, "content-length": length },
      );
      return out;
    },
    (error) => {
      if (error !== null) {
        // Nothing useful can be said once headers are out; before that, a bare 502.
        if (response.headersSent) {
          response.destroy(error);
        } else {
          response.writeHead(502, { "content-length": "0" }).end();
        }
      }
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(`BARE http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`);
});
process.on("SIGTERM", () => {
  server.close(() => void pool.close().then(() => process.exit(0)));
  server.closeIdleConnections();
});
