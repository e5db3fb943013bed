import {
  conversationUpdate,
  FAKE_CREDENTIALS,
  sepayTransaction,
  tposPasswordGrant,
} from "@n2store/testkit/fakes";
import { REALTIME_TOPIC, startRealtime } from "@n2store/testkit/servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { API_KEY, databaseTargets, json, type NodeServer, SEPAY_KEY, startNodeServer } from "./harness.js";

const jsonHeaders = { "content-type": "application/json" };
const keyed = { ...jsonHeaders, "x-api-key": API_KEY };

/** Counts rows straight from the database, to prove refused input left nothing behind. */
async function count(
  server: NodeServer,
  table: "customers" | "sepay_logs" | "idempotency_keys",
): Promise<number> {
  const row = await server.app.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe.each(databaseTargets())("Node server on %s", (database) => {
  let server: NodeServer;
  const call = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);

  beforeAll(async () => {
    server = await startNodeServer({ database });
  });
  afterAll(async () => {
    await server?.close();
  });

  describe("getHealth", () => {
    it("reports the node runtime, the database and the realtime state", async () => {
      const response = await call("/health");
      expect(response.status).toBe(200);
      const body = await json(response);
      expect(body).toMatchObject({
        status: "ok",
        runtime: "node",
        version: "1.0.0",
        database: { reachable: true, driver: database },
        realtime: { browserClients: 0 },
      });
    });
  });

  describe("customers", () => {
    it("creates, reads, searches, updates and deletes a customer with a normalised phone", async () => {
      const created = await call("/api/customers", {
        method: "POST",
        headers: keyed,
        body: JSON.stringify({ phone: "+84 98-765-4321", name: " Trần Văn Bình ", status: "vip" }),
      });
      expect(created.status).toBe(201);
      const customer = await json(created);
      expect(customer).toMatchObject({
        phone: "0987654321",
        name: "Trần Văn Bình",
        carrier: "Viettel",
        status: "vip",
        debt: 0,
      });
      expect(created.headers.get("location")).toBe(`/api/customers/${customer.id}`);

      expect(await json(await call(`/api/customers/${customer.id}`, { headers: keyed }))).toEqual(customer);
      const byPhone = await json(await call("/api/customers?q=0987654", { headers: keyed }));
      expect(byPhone.items.map((c: { id: number }) => c.id)).toContain(customer.id);
      const bySuffix = await json(await call("/api/customers?q=4321", { headers: keyed }));
      expect(bySuffix.items.map((c: { id: number }) => c.id)).toContain(customer.id);
      const byName = await json(
        await call(`/api/customers?q=${encodeURIComponent("văn bình")}`, { headers: keyed }),
      );
      expect(byName.total).toBeGreaterThanOrEqual(1);

      const updated = await call(`/api/customers/${customer.id}`, {
        method: "PATCH",
        headers: keyed,
        body: JSON.stringify({ debt: 150000, note: "Khách quen" }),
      });
      expect(updated.status).toBe(200);
      expect(await json(updated)).toMatchObject({
        id: customer.id,
        debt: 150000,
        note: "Khách quen",
        status: "vip",
      });

      expect((await call(`/api/customers/${customer.id}`, { method: "DELETE", headers: keyed })).status).toBe(
        204,
      );
      const gone = await call(`/api/customers/${customer.id}`, { headers: keyed });
      expect(gone.status).toBe(404);
      expect(await json(gone)).toMatchObject({ code: "CUSTOMER_NOT_FOUND" });
    });

    it("refuses a duplicate phone with 409 naming the customer, and writes nothing", async () => {
      const first = await call("/api/customers", {
        method: "POST",
        headers: keyed,
        body: JSON.stringify({ phone: "0901234567", name: "A" }),
      });
      const { id } = await json(first);
      const before = await count(server, "customers");
      const second = await call("/api/customers", {
        method: "POST",
        headers: keyed,
        body: JSON.stringify({ phone: "+84901234567", name: "B" }),
      });
      expect(second.status).toBe(409);
      expect(await json(second)).toMatchObject({
        code: "CUSTOMER_PHONE_EXISTS",
        details: [{ path: ["body", "phone"], message: `already used by customer ${id}` }],
      });
      expect(await count(server, "customers")).toBe(before);
    });

    it("refuses bad input with a 4xx in the error shape and leaves no row behind", async () => {
      const before = await count(server, "customers");
      const cases: [RequestInit, number, string][] = [
        [
          { method: "POST", headers: keyed, body: JSON.stringify({ phone: "12345", name: "x" }) },
          400,
          "VALIDATION_FAILED",
        ],
        [
          { method: "POST", headers: keyed, body: JSON.stringify({ phone: "0111111111", name: "x" }) },
          400,
          "VALIDATION_FAILED",
        ],
        [{ method: "POST", headers: keyed, body: JSON.stringify({ name: "x" }) }, 400, "VALIDATION_FAILED"],
        [
          {
            method: "POST",
            headers: keyed,
            body: JSON.stringify({ phone: "0912000000", name: "x", extra: 1 }),
          },
          400,
          "VALIDATION_FAILED",
        ],
        [
          {
            method: "POST",
            headers: keyed,
            body: JSON.stringify({ phone: "0912000000", name: "x", status: "gold" }),
          },
          400,
          "VALIDATION_FAILED",
        ],
        [{ method: "POST", headers: keyed, body: "{not json" }, 400, "MALFORMED_BODY"],
        [
          { method: "POST", headers: { ...keyed, "content-type": "text/plain" }, body: "hi" },
          415,
          "UNSUPPORTED_MEDIA_TYPE",
        ],
        [
          {
            method: "POST",
            headers: keyed,
            body: JSON.stringify({ phone: "0912000000", name: "x".repeat(2_000_000) }),
          },
          413,
          "PAYLOAD_TOO_LARGE",
        ],
        [
          { method: "POST", headers: jsonHeaders, body: JSON.stringify({ phone: "0912000000", name: "x" }) },
          401,
          "UNAUTHORIZED",
        ],
        [
          {
            method: "POST",
            headers: { ...jsonHeaders, "x-api-key": "wrong" },
            body: JSON.stringify({ phone: "0912000000", name: "x" }),
          },
          401,
          "UNAUTHORIZED",
        ],
      ];
      for (const [init, status, code] of cases) {
        const response = await call("/api/customers", init);
        expect(response.status, `${code} for ${String(init.body).slice(0, 60)}`).toBe(status);
        const body = await json(response);
        expect(body).toMatchObject({ statusCode: status, code });
        expect(typeof body.message).toBe("string");
      }
      expect(await count(server, "customers")).toBe(before);
    });

    it("accepts the key as Authorization: Bearer, and refuses bad path and query values", async () => {
      expect((await call("/api/customers", { headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(
        200,
      );
      const badId = await call("/api/customers/abc", { headers: keyed });
      expect(badId.status).toBe(400);
      expect(await json(badId)).toMatchObject({
        code: "VALIDATION_FAILED",
        details: [{ path: ["path", "id"] }],
      });
      expect((await call("/api/customers?limit=0", { headers: keyed })).status).toBe(400);
      expect((await call("/api/customers?limit=101", { headers: keyed })).status).toBe(400);
    });
  });

  describe("receiveSepayWebhook", () => {
    const sepay = { ...jsonHeaders, authorization: `Apikey ${SEPAY_KEY}` };

    it("records a transfer once; a redelivery is a 2xx with duplicate: true and no second row", async () => {
      const payload = sepayTransaction({ transferAmount: 350000 });
      // The first delivery is recorded; the redelivery answers the same way, marked duplicate.
      for (const duplicate of [false, true]) {
        const response = await call("/api/sepay/webhook", {
          method: "POST",
          headers: sepay,
          body: JSON.stringify(payload),
        });
        expect(response.status).toBe(200);
        expect(await json(response)).toEqual({ success: true, id: payload.id, duplicate });
      }
      const rows = await server.app.database.db
        .selectFrom("sepay_logs")
        .selectAll()
        .where("id", "=", payload.id)
        .execute();
      expect(rows).toHaveLength(1);

      const listed = await json(
        await call(`/api/sepay/transactions?minAmount=350000&maxAmount=350000`, { headers: keyed }),
      );
      expect(listed.items.map((t: { id: number }) => t.id)).toContain(payload.id);
    });

    it("refuses a wrong key, a missing key and a bad payload without writing", async () => {
      const before = await count(server, "sepay_logs");
      const payload = sepayTransaction();
      const wrong = await call("/api/sepay/webhook", {
        method: "POST",
        headers: { ...jsonHeaders, authorization: "Apikey nope" },
        body: JSON.stringify(payload),
      });
      expect(wrong.status).toBe(401);
      expect(
        (
          await call("/api/sepay/webhook", {
            method: "POST",
            headers: jsonHeaders,
            body: JSON.stringify(payload),
          })
        ).status,
      ).toBe(401);
      const badType = await call("/api/sepay/webhook", {
        method: "POST",
        headers: sepay,
        body: JSON.stringify({ ...payload, transferType: "sideways" }),
      });
      expect(badType.status).toBe(400);
      const badDate = await call("/api/sepay/webhook", {
        method: "POST",
        headers: sepay,
        body: JSON.stringify({ ...payload, transactionDate: "2026-02-30 10:00:00" }),
      });
      expect(badDate.status).toBe(400);
      expect(await json(badDate)).toMatchObject({ details: [{ path: ["body", "transactionDate"] }] });
      expect(await count(server, "sepay_logs")).toBe(before);
    });
  });

  describe("createTposToken", () => {
    it("caches per credential and makes one upstream call for concurrent misses", async () => {
      const { tpos } = server.fakes;
      const before = tpos.tokenHits;
      const form = tposPasswordGrant({ client_id: "tmtWebApp" }).toString();
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          call("/api/token", {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: form,
          }),
        ),
      );
      const tokens = await Promise.all(responses.map((r) => json(r)));
      expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
      expect(tpos.tokenHits - before).toBe(1);

      const wrong = await call("/api/token", {
        method: "POST",
        headers: jsonHeaders,
        body: JSON.stringify({
          grant_type: "password",
          username: FAKE_CREDENTIALS.tpos.username,
          password: "nope",
        }),
      });
      expect(wrong.status).toBe(401);
      expect(await json(wrong)).toMatchObject({ code: "TPOS_TOKEN_REJECTED" });
      // The cached token never answers for other credentials.
      expect(tpos.tokenHits - before).toBe(2);
    });
  });

  describe("sendFacebookMessage", () => {
    const body = {
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: FAKE_CREDENTIALS.psids.inWindow,
      message: "Dạ shop chào chị",
      pageToken: FAKE_CREDENTIALS.graphPageTokens[FAKE_CREDENTIALS.pageIds[0]],
    };

    it("replays a keyed send without sending twice, and refuses the key with another body", async () => {
      const { graph } = server.fakes;
      const before = graph.sent.length;
      const headers = { ...jsonHeaders, "idempotency-key": "test-key-send-0001" };
      const first = await call("/api/facebook-send", { method: "POST", headers, body: JSON.stringify(body) });
      expect(first.status).toBe(200);
      const firstBody = await json(first);
      const again = await call("/api/facebook-send", { method: "POST", headers, body: JSON.stringify(body) });
      expect(again.status).toBe(200);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await json(again)).toEqual(firstBody);
      expect(graph.sent.length - before).toBe(1);
      const other = await call("/api/facebook-send", {
        method: "POST",
        headers,
        body: JSON.stringify({ ...body, message: "another" }),
      });
      expect(other.status).toBe(422);
      expect(await json(other)).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
      expect(graph.sent.length - before).toBe(1);
    });

    it("answers a concurrent duplicate with 409, never a second send", async () => {
      const { graph } = server.fakes;
      graph.setResponseDelay(400);
      const before = graph.sent.length;
      const headers = { ...jsonHeaders, "idempotency-key": "test-key-send-0002" };
      const [a, b] = await Promise.all([
        call("/api/facebook-send", { method: "POST", headers, body: JSON.stringify(body) }),
        new Promise((resolve) => setTimeout(resolve, 100)).then(() =>
          call("/api/facebook-send", { method: "POST", headers, body: JSON.stringify(body) }),
        ),
      ]);
      graph.setResponseDelay(0);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      expect(graph.sent.length - before).toBe(1);
    });

    it("maps Graph's outside-window refusal to FB_OUTSIDE_WINDOW with Graph's codes", async () => {
      const response = await call("/api/facebook-send", {
        method: "POST",
        headers: jsonHeaders,
        body: JSON.stringify({ ...body, psid: FAKE_CREDENTIALS.psids.outsideWindow }),
      });
      expect(response.status).toBe(403);
      expect(await json(response)).toMatchObject({
        code: "FB_OUTSIDE_WINDOW",
        details: [{ code: 10, subcode: 2018278 }],
      });
      const tagged = await call("/api/facebook-send", {
        method: "POST",
        headers: jsonHeaders,
        body: JSON.stringify({ ...body, psid: FAKE_CREDENTIALS.psids.outsideWindow, useTag: true }),
      });
      expect(tagged.status).toBe(200);
      expect(await json(tagged)).toMatchObject({ messaging_type: "MESSAGE_TAG", tag: "HUMAN_AGENT" });
    });
  });

  describe("realtime", () => {
    it("relays Pancake's events to an authenticated browser socket", async () => {
      const { phoenix } = server.fakes;
      const started = await startRealtime(server.url);
      expect(started.status).toBe(200);
      expect(await json(started)).toMatchObject({
        desired: "running",
        userId: FAKE_CREDENTIALS.pancake.userId,
      });
      await phoenix.waitFor(() => phoenix.joins.some((join) => join.topic === REALTIME_TOPIC), 10_000);

      const socket = new WebSocket(`${server.url.replace("http", "ws")}/ws`);
      const messages: { type: string; payload?: unknown; binary: boolean }[] = [];
      socket.on("message", (data, isBinary) =>
        messages.push({ ...JSON.parse(data.toString()), binary: isBinary }),
      );
      await new Promise((resolve) => socket.once("open", resolve));
      socket.send(JSON.stringify({ type: "auth", key: API_KEY }));
      await expect.poll(() => messages.some((m) => m.type === "ready"), { timeout: 5000 }).toBe(true);

      const update = conversationUpdate({
        pageId: FAKE_CREDENTIALS.pageIds[0],
        psid: "9484319011642026",
        snippet: "Xin chào",
      });
      await expect
        .poll(() => phoenix.push(REALTIME_TOPIC, "pages:update_conversation", update), { timeout: 5000 })
        .toBeGreaterThan(0);
      await expect
        .poll(() => messages.find((m) => m.type === "pages:update_conversation"), { timeout: 5000 })
        // A text frame, UTF-8 as sent: a browser would hand a binary one to onmessage as a Blob.
        .toMatchObject({ type: "pages:update_conversation", payload: update, binary: false });

      const status = await json(await call("/api/realtime/status", { headers: keyed }));
      expect(status).toMatchObject({ state: "connected", isLeader: true, browserClients: 1 });
      expect(JSON.stringify(status)).not.toContain(FAKE_CREDENTIALS.pancake.jwt);
      socket.close();
      expect((await call("/api/realtime/stop", { method: "POST", headers: keyed })).status).toBe(200);
    });

    it("closes a socket that does not authenticate with 4401", async () => {
      const socket = new WebSocket(`${server.url.replace("http", "ws")}/ws`);
      await new Promise((resolve) => socket.once("open", resolve));
      socket.send(JSON.stringify({ type: "auth", key: "wrong" }));
      const code = await new Promise<number>((resolve) => socket.once("close", resolve));
      expect(code).toBe(4401);
    });
  });

  describe("documents", () => {
    it("serves the spec as JSON and the Redoc page with its script, without a CDN", async () => {
      const spec = await json(await call("/openapi.json"));
      expect(spec.openapi).toBe("3.1.0");
      const page = await (await call("/docs")).text();
      expect(page).toContain('<script src="/docs/redoc.standalone.js">');
      expect(page).not.toMatch(/https?:\/\/cdn/);
      const script = await call("/docs/redoc.standalone.js");
      expect(script.status).toBe(200);
      expect((await script.text()).length).toBeGreaterThan(100_000);
    });
  });
});
