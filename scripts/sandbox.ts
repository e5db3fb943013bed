/**
 * `npm run sandbox`: the whole gateway offline. Starts fakes of TPOS, Pancake, pages.fm, Graph, a
 * CDN and Pancake's realtime socket (seeded with data), one idempotency store, the Node server on
 * PORT (3000) and the Worker in workerd on EDGE_PORT (8787), all wired to them on 127.0.0.1, and
 * prints what to try. Ctrl-C stops everything.
 *
 * The store is what makes a keyed send safe on both servers: the Node server reaches it through its
 * `pg` pool and the Worker through its Hyperdrive binding (wrangler's local proxy), so a send made
 * on one is replayed, not sent again, on the other. It is the PostgreSQL of DATABASE_URL when set,
 * else an in-memory PGlite served over PostgreSQL's protocol (testkit's startPgliteServer): nothing
 * to install.
 */
import { type AllFakes, conversationUpdate, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import {
  API_KEY,
  type EdgeServer,
  gatewayEnv,
  hyperdriveLocalUrl,
  type PgliteServer,
  SEPAY_KEY,
  startEdgeServer,
  startPgliteServer,
  startRealtime,
  startTogether,
} from "@n2store/testkit/servers";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../server-node/src/app.js";

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65_535) {
    console.error(`${name} must be a port number (1-65535), not "${raw}".`);
    process.exit(2);
  }
  return value;
}

const nodePort = port("PORT", 3000);
const edgePort = port("EDGE_PORT", 8787);
const node = `http://127.0.0.1:${nodePort}`;
const started = Date.now();

// What has started, so that Ctrl-C at any moment stops it. wrangler runs in a process group of its
// own; startEdgeServer kills it when this process exits, even half-started.
let fakes: AllFakes | undefined;
let pglite: PgliteServer | undefined;
let app: FastifyInstance | undefined;
let edge: EdgeServer | undefined;
let ticker: NodeJS.Timeout | undefined;
let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) {
    return;
  }
  stopping = true;
  clearInterval(ticker);
  console.log("\nStopping...");
  await Promise.allSettled([edge?.close(), app?.close()]);
  await Promise.allSettled([pglite?.close(), fakes?.close()]);
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

console.log("Starting the fakes and the shared idempotency store...");
let storeName: string;
try {
  fakes = await startAllFakes();
  let storeUrl: string;
  if (process.env.DATABASE_URL) {
    storeUrl = hyperdriveLocalUrl(process.env.DATABASE_URL);
    const { host, pathname } = new URL(storeUrl);
    storeName = `the PostgreSQL of DATABASE_URL (${host}${pathname})`;
  } else {
    pglite = await startPgliteServer();
    storeUrl = pglite.url;
    storeName = `PGlite in memory, served at ${pglite.url}`;
  }
  const env = {
    ...gatewayEnv(fakes, { UPSTREAM_TIMEOUT_MS: "15000" }),
    LOG_LEVEL: "warn",
    // The Worker cannot resize images: it asks the Node server, as a deployment does.
    NODE_SERVER_URL: node,
  };
  console.log(`Starting the Node server on ${node} and the Worker on http://127.0.0.1:${edgePort}...`);
  [app, edge] = await startTogether(
    [
      (async () => {
        // The Node server migrates the store; the Worker uses the table it creates.
        const server = await buildApp({
          env: {
            ...env,
            DATABASE_URL: storeUrl,
            INSTANCE_ID: "sandbox-node",
            REALTIME_LEADER_POLL_MS: "500",
          },
          dataDir: null,
        });
        try {
          await server.listen({ port: nodePort, host: "127.0.0.1" });
        } catch (error) {
          await server.close();
          throw error;
        }
        return server;
      })(),
      (server) => server.close(),
    ],
    [startEdgeServer({ vars: env, port: edgePort, hyperdrive: storeUrl }), (worker) => worker.close()],
  );
} catch (error) {
  console.error(`The sandbox did not start: ${error instanceof Error ? error.message : String(error)}`);
  await stop(1);
  throw error; // not reached: stop() exits
}
const edgeUrl = edge.url;
const fake = fakes;

// A realtime session against the fake Pancake socket, and an inbox event every 15 s to watch.
await startRealtime(node);
let tick = 0;
ticker = setInterval(() => {
  tick += 1;
  fake.phoenix.push(
    `multiple_pages:${FAKE_CREDENTIALS.pancake.userId}`,
    "pages:update_conversation",
    conversationUpdate({
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: "9484319011642026",
      snippet: `Tin nhắn thử ${tick}`,
    }),
  );
}, 15_000);

// What the sandbox checks of itself before it says it is up: whether each server reaches the
// store, and a TPOS token through the Worker for the OData example.
const { tpos } = FAKE_CREDENTIALS;
const form = `grant_type=password&username=${tpos.username}&password=${tpos.password}&client_id=${tpos.clientId}`;
const reaches = await Promise.all(
  [edgeUrl, node].map((base) =>
    fetch(`${base}/health`)
      .then(async (response) => {
        const health = (await response.json()) as { idempotencyStore?: { reachable?: boolean } };
        return health.idempotencyStore?.reachable === true;
      })
      .catch(() => false),
  ),
);
const token = await fetch(`${edgeUrl}/api/token`, {
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: form,
})
  .then(async (response) => ((await response.json()) as { access_token?: string }).access_token)
  .catch(() => undefined);

const unreachable = [reaches[0] ? null : "the Worker", reaches[1] ? null : "the Node server"].filter(
  (name) => name !== null,
);
const storeState =
  unreachable.length === 0
    ? "reachable from both servers"
    : `NOT reachable from ${unreachable.join(" and ")}: keyed sends there answer 503`;
const pageId = FAKE_CREDENTIALS.pageIds[0];
const until = Math.floor(Date.now() / 1000);
const weekAgo = until - 7 * 24 * 3600;
const send = `'{"pageId":"${pageId}","psid":"${FAKE_CREDENTIALS.psids.inWindow}","message":"Xin chào","pageToken":"${FAKE_CREDENTIALS.graphPageTokens[pageId]}"}'`;
const photo = encodeURIComponent(fake.cdn.photoUrl("jpg"));
console.log(`
N2Store gateway sandbox is up (${((Date.now() - started) / 1000).toFixed(1)} s). Everything runs on this machine; no account is needed.

  Edge (Worker)      ${edgeUrl}        Node server  ${node}
  API reference      ${node}/docs
  Idempotency store  ${storeName}, ${storeState}
  Credentials        N2Store API key ${API_KEY} (x-api-key), SePay key ${SEPAY_KEY}
                     TPOS ${tpos.username} / ${tpos.password} (client ${tpos.clientId})
                     Graph page token ${FAKE_CREDENTIALS.graphPageTokens[pageId]} (page ${pageId})

Try (the send goes to the Worker, then the same send with the same Idempotency-Key to the Node
server: that one is a replay, Idempotent-Replayed: true, and the fake Graph gets one message):
  curl ${edgeUrl}/health
  curl ${node}/health
  curl -X POST ${edgeUrl}/api/token -d '${form}'
  curl -i -X POST ${edgeUrl}/api/facebook-send -H 'content-type: application/json' -H 'idempotency-key: try-send-1' \\
       -d ${send}
  curl -i -X POST ${node}/api/facebook-send -H 'content-type: application/json' -H 'idempotency-key: try-send-1' \\
       -d ${send}
  curl '${edgeUrl}/api/odata/Partner?$top=2&$count=true' -H 'Authorization: Bearer ${token ?? "<access_token from /api/token>"}'
  curl '${edgeUrl}/api/pancake-official/pages/${pageId}/conversations?page_access_token=${FAKE_CREDENTIALS.pageAccessTokens[pageId]}&since=${weekAgo}&until=${until}&page_number=1'
  curl -s -o photo.jpg -D - '${edgeUrl}/api/image-proxy?url=${photo}&w=300&q=70'
  curl -X POST ${node}/api/customers -H 'x-api-key: ${API_KEY}' -H 'content-type: application/json' \\
       -d '{"phone":"+84 912 345 678","name":"Nguyễn Thị Lan"}'
  curl -X POST ${node}/api/sepay/webhook -H 'Authorization: Apikey ${SEPAY_KEY}' -H 'content-type: application/json' \\
       -d '{"id":92704,"gateway":"Vietcombank","transactionDate":"2026-11-25 14:02:37","accountNumber":"0071000888888","code":null,"content":"CT DEN 0912345678","transferType":"in","transferAmount":350000,"accumulated":19077000}'
  curl ${node}/api/realtime/status -H 'x-api-key: ${API_KEY}'

The image comes through the Worker resized by the Node server (x-image-resize: forwarded).
The fake Pancake socket pushes a conversation update every 15 s: connect a WebSocket to
ws://127.0.0.1:${nodePort}/ws and send {"type":"auth","key":"${API_KEY}"} to watch them.
Press Ctrl-C to stop.`);
