/**
 * What GET /metrics counts beyond requests (the contract suite holds the format, the requests and the
 * key): SePay deliveries and duplicates, idempotency replays and conflicts, upstream failures by kind,
 * browser sockets and the upstream socket's state, and the PostgreSQL pool. Each is read before and
 * after the event, so other traffic on the same server does not matter.
 */
import { FAKE_CREDENTIALS, sepayTransaction } from "@n2store/testkit/fakes";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { API_KEY, databaseTargets, type NodeServer, SEPAY_KEY, startNodeServer } from "./harness.js";

const jsonHeaders = { "content-type": "application/json" };

describe.each(databaseTargets())("GET /metrics on %s", (database) => {
  let server: NodeServer;
  const call = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
  const scrape = async (): Promise<string> => {
    const response = await call("/metrics", { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(response.status).toBe(200);
    return response.text();
  };
  /** The value of a series; undefined when it is absent. */
  const value = (text: string, series: string): number | undefined => {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const grew = async (series: readonly string[], act: () => Promise<void>): Promise<number[]> => {
    const before = await scrape();
    await act();
    const after = await scrape();
    return series.map((name) => (value(after, name) ?? 0) - (value(before, name) ?? 0));
  };

  beforeAll(async () => {
    server = await startNodeServer({ database });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("counts SePay deliveries: a new transaction, then its redelivery as a duplicate", async () => {
    const headers = { ...jsonHeaders, authorization: `Apikey ${SEPAY_KEY}` };
    const payload = JSON.stringify(sepayTransaction({ transferAmount: 120000 }));
    const deltas = await grew(
      [
        'n2store_sepay_deliveries_total{result="recorded"}',
        'n2store_sepay_deliveries_total{result="duplicate"}',
      ],
      async () => {
        for (let n = 0; n < 2; n++) {
          const response = await call("/api/sepay/webhook", { method: "POST", headers, body: payload });
          expect(response.status).toBe(200);
        }
      },
    );
    expect(deltas).toEqual([1, 1]);
  });

  it("counts an idempotent replay and a key reused with another request", async () => {
    const body = {
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: FAKE_CREDENTIALS.psids.inWindow,
      message: "metrics",
      pageToken: FAKE_CREDENTIALS.graphPageTokens[FAKE_CREDENTIALS.pageIds[0]],
    };
    const headers = { ...jsonHeaders, "idempotency-key": `metrics-${database}-0001` };
    const send = (message: string) =>
      call("/api/facebook-send", { method: "POST", headers, body: JSON.stringify({ ...body, message }) });
    const deltas = await grew(
      [
        'n2store_idempotency_total{result="replayed"}',
        'n2store_idempotency_total{result="key_reused"}',
        'n2store_upstream_requests_total{upstream="graph",outcome="2xx"}',
      ],
      async () => {
        expect((await send("metrics")).status).toBe(200);
        expect((await send("metrics")).headers.get("idempotent-replayed")).toBe("true");
        expect((await send("another")).status).toBe(422);
      },
    );
    expect(deltas).toEqual([1, 1, 1]);
  });

  it("counts a key still in use (a concurrent duplicate, 409)", async () => {
    const { graph } = server.fakes;
    graph.setResponseDelay(400);
    const headers = { ...jsonHeaders, "idempotency-key": `metrics-${database}-0002` };
    const body = JSON.stringify({
      pageId: FAKE_CREDENTIALS.pageIds[0],
      psid: FAKE_CREDENTIALS.psids.inWindow,
      message: "metrics, twice at once",
      pageToken: FAKE_CREDENTIALS.graphPageTokens[FAKE_CREDENTIALS.pageIds[0]],
    });
    try {
      const [delta] = await grew(['n2store_idempotency_total{result="key_in_use"}'], async () => {
        const statuses = await Promise.all(
          [0, 1].map(async () => {
            const response = await call("/api/facebook-send", { method: "POST", headers, body });
            await response.arrayBuffer();
            return response.status;
          }),
        );
        expect(statuses.sort()).toEqual([200, 409]);
      });
      expect(delta).toBe(1);
    } finally {
      graph.setResponseDelay(0);
    }
  });

  it("counts an upstream that drops the connection as a reset, apart from its answers", async () => {
    server.fakes.tpos.fault.set({ mode: "reset" }, { times: 1 });
    const deltas = await grew(
      [
        'n2store_upstream_requests_total{upstream="tpos",outcome="reset"}',
        'n2store_http_requests_total{operation="tposODataGet",status="502"}',
      ],
      async () => {
        const response = await call("/api/odata/Product", { headers: { authorization: "Bearer x" } });
        expect(response.status).toBe(502);
        await response.arrayBuffer();
      },
    );
    expect(deltas).toEqual([1, 1]);
  });

  it("reports browser sockets, the realtime lock and the Pancake socket's state", async () => {
    const socket = new WebSocket(`${server.url.replace("http", "ws")}/ws`);
    const ready = new Promise<void>((resolve) =>
      socket.on("message", (data) => {
        if (JSON.parse(data.toString()).type === "ready") {
          resolve();
        }
      }),
    );
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "auth", key: API_KEY }));
    await ready;
    try {
      const text = await scrape();
      expect(value(text, "n2store_realtime_browser_sockets")).toBe(1);
      expect(value(text, "n2store_realtime_leader")).toBe(server.app.realtime.isLeader ? 1 : 0);
      expect(value(text, `n2store_realtime_upstream_state{state="${server.app.realtime.localState}"}`)).toBe(
        1,
      );
    } finally {
      socket.close();
    }
    await expect.poll(async () => value(await scrape(), "n2store_realtime_browser_sockets")).toBe(0);
  });

  it("reports the PostgreSQL pool, and no pool on PGlite", async () => {
    const text = await scrape();
    if (database === "postgres") {
      expect(value(text, 'n2store_db_pool{measure="max"}')).toBe(10);
      expect(value(text, 'n2store_db_pool{measure="open"}')).toBeGreaterThanOrEqual(1);
      expect(value(text, 'n2store_db_pool{measure="waiting"}')).toBe(0);
    } else {
      expect(text).toContain("# TYPE n2store_db_pool gauge");
      expect(text).not.toMatch(/^n2store_db_pool\{/m);
    }
  });
});
