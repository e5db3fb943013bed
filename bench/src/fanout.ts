/**
 * Realtime fan-out: one Pancake event, pushed by the fake Phoenix server, to 1 000 authenticated
 * browser sockets of the gateway, timed from the push to each socket's receipt. Each event waits
 * until every socket has it (or 10 s) before the next is pushed.
 */
import { conversationUpdate, FAKE_CREDENTIALS, type startAllFakes } from "@n2store/testkit/fakes";
import { API_KEY, REALTIME_TOPIC, startRealtime } from "@n2store/testkit/servers";
import WebSocket from "ws";

/** Browser sockets the event goes to. */
const FANOUT_SOCKETS = 1000;

/** Delivery figures in ms. */
export interface FanoutFigures {
  readonly deliveries: number;
  readonly expected: number;
  readonly p50: number;
  readonly p99: number;
}

/** Starts the gateway's realtime client, opens the sockets, pushes `events` events and times them. */
export async function benchFanout(
  gatewayUrl: string,
  fakes: Awaited<ReturnType<typeof startAllFakes>>,
  events: number,
): Promise<FanoutFigures> {
  const started = await startRealtime(gatewayUrl);
  if (!started.ok) {
    throw new Error(`realtime start answered ${started.status}`);
  }
  const topic = REALTIME_TOPIC;
  await fakes.phoenix.waitFor(() => fakes.phoenix.joins.some((join) => join.topic === topic), 10_000);
  const sockets: WebSocket[] = [];
  const delays: number[] = [];
  let pushedAt = 0;
  for (let i = 0; i < FANOUT_SOCKETS; i++) {
    const socket = new WebSocket(`${gatewayUrl.replace("http", "ws")}/ws`);
    await new Promise<void>((ready, fail) => {
      socket.once("error", fail);
      socket.once("open", () => socket.send(JSON.stringify({ type: "auth", key: API_KEY })));
      socket.once("message", () => ready());
    });
    socket.on("message", (data) => {
      if (data.toString().includes("pages:update_conversation")) {
        delays.push(performance.now() - pushedAt);
      }
    });
    sockets.push(socket);
  }
  for (let i = 0; i < events; i++) {
    const expected = delays.length + sockets.length;
    pushedAt = performance.now();
    fakes.phoenix.push(
      topic,
      "pages:update_conversation",
      conversationUpdate({
        pageId: FAKE_CREDENTIALS.pageIds[0],
        psid: String(100 + i),
        snippet: `event ${i}`,
      }),
    );
    const deadline = Date.now() + 10_000;
    while (delays.length < expected && Date.now() < deadline) {
      await new Promise((tick) => setTimeout(tick, 5));
    }
  }
  for (const socket of sockets) {
    socket.close();
  }
  delays.sort((a, b) => a - b);
  const pick = (q: number) =>
    delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? Number.NaN;
  return { deliveries: delays.length, expected: events * FANOUT_SOCKETS, p50: pick(0.5), p99: pick(0.99) };
}
