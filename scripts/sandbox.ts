/**
 * `npm run sandbox`: the whole gateway offline. Starts fakes of TPOS, Pancake, pages.fm, Graph,
 * a CDN and Pancake's realtime socket (seeded with data), the Node server (in-memory PGlite) on
 * PORT (3000) and the Worker in workerd on EDGE_PORT (8787), all wired to the fakes on 127.0.0.1,
 * and prints what to try. Ctrl-C stops everything.
 */
import { conversationUpdate, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { API_KEY, gatewayEnv, SEPAY_KEY, startEdgeServer } from "@n2store/testkit/servers";
import { buildApp } from "../server-node/src/app.js";

const nodePort = Number(process.env.PORT ?? 3000);
const edgePort = Number(process.env.EDGE_PORT ?? 8787);

console.log("Starting the fakes...");
const fakes = await startAllFakes();
const env = { ...gatewayEnv(fakes, { UPSTREAM_TIMEOUT_MS: "15000" }), LOG_LEVEL: "warn" };

console.log(`Starting the Node server on http://127.0.0.1:${nodePort} (in-memory PGlite)...`);
const node = await buildApp({
  env: { ...env, INSTANCE_ID: "sandbox-node", REALTIME_LEADER_POLL_MS: "500" },
  dataDir: null,
});
await node.listen({ port: nodePort, host: "127.0.0.1" });

console.log(`Starting the Worker in workerd on http://127.0.0.1:${edgePort} (wrangler dev)...`);
const edge = await startEdgeServer({ vars: env, port: edgePort });

// A realtime session against the fake Pancake socket, and an inbox event every 15 s to watch.
await fetch(`http://127.0.0.1:${nodePort}/api/realtime/start`, {
  method: "POST",
  headers: { "content-type": "application/json", "x-api-key": API_KEY },
  body: JSON.stringify({
    token: FAKE_CREDENTIALS.pancake.jwt,
    userId: FAKE_CREDENTIALS.pancake.userId,
    pageIds: [...FAKE_CREDENTIALS.pageIds],
  }),
});
let tick = 0;
const ticker = setInterval(() => {
  tick += 1;
  fakes.phoenix.push(
    `multiple_pages:${FAKE_CREDENTIALS.pancake.userId}`,
    "pages:update_conversation",
    conversationUpdate({
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: "9484319011642026",
      snippet: `Tin nhắn thử ${tick}`,
    }),
  );
}, 15_000);

const form = `grant_type=password&username=${FAKE_CREDENTIALS.tpos.username}&password=${FAKE_CREDENTIALS.tpos.password}&client_id=tmtWebApp`;
const pageId = FAKE_CREDENTIALS.pageIds[0];
const until = Math.floor(Date.now() / 1000);
const since = until - 7 * 24 * 3600;
console.log(`
N2Store gateway sandbox is up. Everything runs on this machine; no account is needed.

  Edge (Worker)   http://127.0.0.1:${edgePort}      Node server  http://127.0.0.1:${nodePort}
  API reference   http://127.0.0.1:${nodePort}/docs
  API key         ${API_KEY}        SePay key  ${SEPAY_KEY}

Try:
  curl http://127.0.0.1:${edgePort}/health
  curl -X POST http://127.0.0.1:${edgePort}/api/token -d '${form}'
  curl 'http://127.0.0.1:${edgePort}/api/odata/Partner?$top=2&$count=true' -H "Authorization: Bearer <access_token from above>"
  curl 'http://127.0.0.1:${edgePort}/api/pancake-official/pages/${pageId}/conversations?page_access_token=${FAKE_CREDENTIALS.pageAccessTokens[pageId]}&since=${since}&until=${until}&page_number=1'
  curl -X POST http://127.0.0.1:${edgePort}/api/facebook-send -H 'content-type: application/json' -H 'idempotency-key: try-send-1' \\
       -d '{"pageId":"${pageId}","psid":"${FAKE_CREDENTIALS.psids.inWindow}","message":"Xin chào","pageToken":"${FAKE_CREDENTIALS.graphPageTokens[pageId]}"}'
  curl -X POST http://127.0.0.1:${nodePort}/api/customers -H 'x-api-key: ${API_KEY}' -H 'content-type: application/json' \\
       -d '{"phone":"+84 912 345 678","name":"Nguyễn Thị Lan"}'
  curl -X POST http://127.0.0.1:${nodePort}/api/sepay/webhook -H 'Authorization: Apikey ${SEPAY_KEY}' -H 'content-type: application/json' \\
       -d '{"id":92704,"gateway":"Vietcombank","transactionDate":"2026-11-25 14:02:37","accountNumber":"0071000888888","code":null,"content":"CT DEN 0912345678","transferType":"in","transferAmount":350000,"accumulated":19077000}'
  curl http://127.0.0.1:${nodePort}/api/realtime/status -H 'x-api-key: ${API_KEY}'

The fake Pancake socket pushes a conversation update every 15 s: connect a WebSocket to
ws://127.0.0.1:${nodePort}/ws and send {"type":"auth","key":"${API_KEY}"} to watch them.
Press Ctrl-C to stop.`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) {
    return;
  }
  stopping = true;
  clearInterval(ticker);
  console.log("\nStopping...");
  await Promise.allSettled([edge.close(), node.close()]);
  await fakes.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
