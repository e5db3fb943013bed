import { type AllFakes, conversationUpdate, FAKE_CREDENTIALS, startAllFakes } from "@n2store/testkit/fakes";
import { type NodeProcess, startNodeProcess, startRealtime, startTogether } from "@n2store/testkit/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { API_KEY, createTestDatabase, fakeEnv, json } from "./harness.js";

async function browserSocket(
  url: string,
): Promise<{ socket: WebSocket; messages: { type: string; payload?: unknown }[] }> {
  const socket = new WebSocket(`${url.replace("http", "ws")}/ws`);
  const messages: { type: string; payload?: unknown }[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
  await new Promise((resolveOpen) => socket.once("open", resolveOpen));
  socket.send(JSON.stringify({ type: "auth", key: API_KEY }));
  await expect.poll(() => messages.some((m) => m.type === "ready"), { timeout: 5000 }).toBe(true);
  return { socket, messages };
}

async function status(
  url: string,
): Promise<{ isLeader: boolean; state: string; leaderInstanceId: string | null }> {
  return json(await fetch(`${url}/api/realtime/status`, { headers: { "x-api-key": API_KEY } }));
}

// Several instances share state through PostgreSQL only: this needs the real server (DATABASE_URL).
describe.skipIf(!process.env.DATABASE_URL)("two Node instances on one PostgreSQL", () => {
  let fakes: AllFakes;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: NodeProcess;
  let b: NodeProcess;
  const topic = `multiple_pages:${FAKE_CREDENTIALS.pancake.userId}`;

  beforeAll(async () => {
    fakes = await startAllFakes();
    database = await createTestDatabase();
    const env = { ...fakeEnv(fakes), DATABASE_URL: database.url, REALTIME_LEADER_POLL_MS: "250" };
    // A starts first and takes the lock; both run the migrations under the advisory lock.
    [a, b] = await startTogether(
      [startNodeProcess("node-a", env), (started) => started.stop()],
      [startNodeProcess("node-b", env), (started) => started.stop()],
    );
  }, 60_000);

  afterAll(async () => {
    a?.kill();
    b?.kill();
    await fakes?.close();
    await database?.drop();
  });

  it("holds one upstream socket, relays its events to browsers on every instance, and hands over when the holder dies", async () => {
    const started = await startRealtime(b.url);
    expect(started.status).toBe(200);
    await expect.poll(() => fakes.phoenix.clients, { timeout: 10_000 }).toBe(1);
    const [statusA, statusB] = await Promise.all([status(a.url), status(b.url)]);
    expect([statusA.isLeader, statusB.isLeader].filter(Boolean)).toHaveLength(1);
    const holder = statusA.isLeader ? a : b;
    const standby = holder === a ? b : a;

    // A browser on the standby gets what the holder's upstream socket receives.
    const browser = await browserSocket(standby.url);
    await expect
      .poll(() => fakes.phoenix.joins.some((join) => join.topic === topic), { timeout: 10_000 })
      .toBe(true);
    const first = conversationUpdate({
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: "100001",
      snippet: "trước",
    });
    expect(fakes.phoenix.push(topic, "pages:update_conversation", first)).toBe(1);
    await expect
      .poll(() => browser.messages.find((m) => m.type === "pages:update_conversation"), { timeout: 5000 })
      .toMatchObject({ payload: first });

    // The holder dies without any chance to clean up; the standby takes the socket over.
    const killedAt = Date.now();
    holder.kill();
    await expect
      .poll(async () => (await status(standby.url)).isLeader, { timeout: 15_000, interval: 100 })
      .toBe(true);
    await expect
      .poll(() => fakes.phoenix.joins.filter((join) => join.topic === topic).length, { timeout: 15_000 })
      .toBe(2);
    const handoverMs = Date.now() - killedAt;
    console.log(`realtime handover after SIGKILL of the holder: ${handoverMs} ms`);
    expect(handoverMs).toBeLessThan(15_000);

    const second = conversationUpdate({
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: "100002",
      snippet: "sau",
    });
    await expect
      .poll(() => fakes.phoenix.push(topic, "pages:update_conversation", second), { timeout: 5000 })
      .toBe(1);
    await expect
      .poll(() => browser.messages.filter((m) => m.type === "pages:update_conversation").length, {
        timeout: 5000,
      })
      .toBe(2);
    expect((await status(standby.url)).leaderInstanceId).toBe(standby.name);
    browser.socket.close();
  }, 60_000);
});
